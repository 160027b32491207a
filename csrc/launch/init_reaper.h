// The launcher as a container's PID 1: reap every orphan, forward signals, pass the exit code on.
#pragma once

#include <optional>

namespace trainrun::launch {

// For main() to call first when this process is PID 1 (`docker run IMAGE train` without an
// init), before any thread starts. Forks: in the child it returns nullopt, and the child runs
// the launcher as usual. PID 1 stays here: it reaps every process that ends up its child (a
// rank's orphaned helpers would otherwise stay zombies for the container's life), forwards
// SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to the launcher (PID 1 gets no default
// action for them), and once the launcher exits returns its exit code (128 + the signal when
// a signal ended it).
std::optional<int> runAsInit();

}  // namespace trainrun::launch
