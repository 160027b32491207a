// trainrun's build identity: its version and the git revision it was built from.
#pragma once

namespace trainrun {

// The project version (CMake's) and the git revision ("<sha>", "<sha>-dirty" with uncommitted
// changes, "unknown" outside a git checkout; -DTRAINRUN_GIT_REVISION=<sha> overrides it, as
// image builds without .git do), fixed at build time.
const char* trainrunVersion();
const char* trainrunGitRevision();

}  // namespace trainrun
