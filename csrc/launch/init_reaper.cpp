// runAsInit: fork the launcher, then wait for signals: SIGCHLD reaps, the others are forwarded.
#include "launch/init_reaper.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace trainrun::launch {
namespace {

constexpr int kForwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

void ignoreSignal(int) {}

// PID 1 of a namespace gets no signal whose action is the default: the kernel drops it, even
// while sigtimedwait() waits for it. A handler that never runs (the signals stay blocked and
// are taken by sigtimedwait) makes them arrive.
void setHandlers(void (*handler)(int)) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  for (int sig : kForwarded) ::sigaction(sig, &action, nullptr);
  ::sigaction(SIGCHLD, &action, nullptr);
}

}  // namespace

std::optional<int> runAsInit() {
  sigset_t all, previous;
  sigfillset(&all);
  // Blocked before the fork, so no signal can arrive between the fork and the wait below.
  sigprocmask(SIG_SETMASK, &all, &previous);
  const pid_t launcher = ::fork();
  if (launcher < 0) {  // cannot fork: run the launcher in this process, without reaping
    sigprocmask(SIG_SETMASK, &previous, nullptr);
    return std::nullopt;
  }
  if (launcher == 0) {
    setHandlers(SIG_DFL);
    sigprocmask(SIG_SETMASK, &previous, nullptr);
    return std::nullopt;
  }
  setHandlers(ignoreSignal);
  const timespec tick{1, 0};  // also reap now and then, should a SIGCHLD ever be missed
  for (;;) {
    siginfo_t info{};
    const int sig = ::sigtimedwait(&all, &info, &tick);
    if (sig > 0 && sig != SIGCHLD) {
      for (int forwarded : kForwarded)
        if (sig == forwarded) ::kill(launcher, sig);
      continue;
    }
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      if (pid != launcher) continue;  // an orphan: reaped, nothing more to do
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return 128 + WTERMSIG(status);
    }
    if (pid < 0 && errno == ECHILD) return 1;  // cannot happen while the launcher lives
  }
}

}  // namespace trainrun::launch
