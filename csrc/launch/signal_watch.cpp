// SignalWatch over signalfd(2).
#include "launch/signal_watch.h"

#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>

#include "core/error.h"

namespace trainrun::launch {

SignalWatch::SignalWatch() {
  // An inherited SIG_IGN would discard these before signalfd sees them (and SIGCHLD ignored
  // auto-reaps children, which breaks waitpid); the default action never runs while blocked.
  for (int sig : {SIGINT, SIGTERM, SIGCHLD}) std::signal(sig, SIG_DFL);
  // A closed stdout must not kill the launcher mid-run; children get SIGPIPE back.
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGCHLD}) sigaddset(&set, sig);
  if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) throw Error("cannot block signals");
  fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd_ < 0) throw Error(std::string("signalfd failed: ") + std::strerror(errno));
}

SignalWatch::~SignalWatch() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<int> SignalWatch::take() {
  std::vector<int> signals;
  signalfd_siginfo info;
  while (::read(fd_, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
    signals.push_back(static_cast<int>(info.ssi_signo));
  }
  return signals;
}

}  // namespace trainrun::launch
