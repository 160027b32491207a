// Private temporary folders: mkdtemp under $TMPDIR (or /tmp), for the launcher's scratch files.
#pragma once

#include <string>

namespace trainrun {

// $TMPDIR, or /tmp when it is unset or empty.
std::string tempBase();

// Makes a fresh folder "<base>/<prefix>XXXXXX" (base "": tempBase()) and returns its path; ""
// when mkdtemp fails (errno says why).
std::string makeTempDir(const std::string& prefix, const std::string& base = "");

}  // namespace trainrun
