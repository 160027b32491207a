// Backtraces of every thread of this process, taken with a signal and bounded in time; gdb's too.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace trainrun {

// One thread's stack as a dump saw it.
struct ThreadStack {
  pid_t tid = 0;
  std::string name;                 // /proc/<pid>/task/<tid>/comm
  std::vector<std::string> frames;  // innermost first: "libfoo.so(ns::f(int)+0x1f) [0x7f..]"
  bool answered = false;  // false: the thread did not run the handler in time (it blocks the
                          // signal, or is stuck in the kernel)
};

// The real-time signal the dumps use (glibc leaves it free; nothing else in trainrun uses it).
int stackDumpSignal();

// Installs the handler of stackDumpSignal() (once per process; later calls do nothing). The
// handler only records return addresses into a preallocated slot: async-signal-safe once
// backtrace() has been called here, which loads the unwinder.
void installStackDumpHandler();

// The stacks of every thread of this process, the caller's included, asked one at a time with
// stackDumpSignal() and given `per_thread` each to answer, `total` in all: threads still unasked
// then come back unanswered. One dump runs at a time in a process (a second caller waits).
// Interrupts blocking system calls that do not restart (poll, nanosleep): take dumps when the
// run is ending anyway. Symbols are the dynamic ones; link executables with ENABLE_EXPORTS.
std::vector<ThreadStack> dumpAllStacks(std::chrono::milliseconds per_thread,
                                       std::chrono::milliseconds total);

// gdb's `thread apply all bt` of process `pid`, or "" when gdb is not on PATH, cannot attach or
// takes longer than `timeout` (it is then killed). Its output goes through the file `scratch`
// (removed afterwards): a pipe could fill while gdb holds the reading thread stopped. A process
// that asks about itself first allows gdb to attach (PR_SET_PTRACER).
std::string gdbStacks(pid_t pid, const std::string& scratch, std::chrono::milliseconds timeout);

}  // namespace trainrun
