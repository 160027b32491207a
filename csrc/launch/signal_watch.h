// SIGINT, SIGTERM and SIGCHLD delivered as readable events on a signalfd, not as handlers.
#pragma once

#include <vector>

namespace trainrun::launch {

// Construct first thing in main(), before any thread starts: it blocks the three signals in
// the calling thread, and only threads created afterwards inherit that mask (a thread that
// left them unblocked would take them with their default action). Children must unblock
// them after fork (process.cpp does). Not copyable; one per process.
class SignalWatch {
 public:
  SignalWatch();
  ~SignalWatch();
  SignalWatch(const SignalWatch&) = delete;
  SignalWatch& operator=(const SignalWatch&) = delete;

  // Becomes readable (poll POLLIN) when one of the signals is pending.
  int fd() const { return fd_; }
  // The signals received since the last call, oldest first; never blocks.
  std::vector<int> take();

 private:
  int fd_ = -1;
};

}  // namespace trainrun::launch
