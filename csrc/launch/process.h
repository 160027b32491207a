// Spawning one rank process in its own process group, tied to the launcher's life.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace trainrun::launch {

// A started child; the caller owns (and must close) the two read ends.
struct ChildProcess {
  pid_t pid = -1;  // also its process group id
  int stdout_fd = -1;
  int stderr_fd = -1;
};

// Forks and execs `argv` (argv[0] searched in $PATH) with exactly `env` ("K=V" entries).
// The child leads a new process group (so signalGroup reaches its own children too), gets
// SIGKILL if the launcher dies (PR_SET_PDEATHSIG), starts with no signals blocked and no
// inherited fds beyond stdin and the two pipes. Must be called from the thread that lives
// as long as the child: PDEATHSIG fires when the forking thread exits. If exec fails the
// child prints why on its stderr pipe and exits 127. Throws Error if fork/pipe fail.
ChildProcess spawnInOwnGroup(const std::vector<std::string>& argv,
                             const std::vector<std::string>& env);
// The same, with the child's stdout and stderr both on `output_fd` (a log file) instead of
// pipes; the returned read ends are -1. The caller keeps (and closes) output_fd.
ChildProcess spawnInOwnGroup(const std::vector<std::string>& argv,
                             const std::vector<std::string>& env, int output_fd);

// Sends `sig` to every process of the group; a group already gone is not an error.
void signalGroup(pid_t pgid, int sig);

}  // namespace trainrun::launch
