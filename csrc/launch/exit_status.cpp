// Exit-status words: signal names from a fixed table (strsignal's text varies by libc).
#include "launch/exit_status.h"

#include <sys/wait.h>

#include <csignal>
#include <cstring>

namespace trainrun::launch {

ExitStatus ExitStatus::fromWaitStatus(int status) {
  ExitStatus s;
  if (WIFSIGNALED(status)) {
    s.signaled = true;
    s.signal = WTERMSIG(status);
    s.core_dumped = WCOREDUMP(status);
  } else if (WIFEXITED(status)) {
    s.code = WEXITSTATUS(status);
  }
  return s;
}

std::string ExitStatus::describe() const {
  if (!signaled) return "exit code " + std::to_string(code);
  return "killed by " + signalName(signal) + (core_dumped ? " (core dumped)" : "");
}

std::string ExitStatus::hint() const {
  if (!signaled) {
    // The shell convention, also used by the launcher's own exec failure.
    if (code == 127) return "command not found";
    if (code == 126) return "command not executable";
    return "";
  }
  switch (signal) {
    case SIGKILL:
      // Nobody in this run sent it (the launcher's own kills are not failures): the kernel's
      // OOM killer is the usual sender.
      return "likely an out-of-memory kill; check dmesg";
    case SIGSEGV:
    case SIGBUS:
      return "a crash in native code";
    case SIGABRT:
      return "aborted, e.g. an uncaught C++ exception or a failed assertion";
    default:
      return "";
  }
}

std::string signalName(int sig) {
  static const struct {
    int number;
    const char* name;
  } kNames[] = {
      {SIGHUP, "SIGHUP"},       {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"},   {SIGILL, "SIGILL"},
      {SIGTRAP, "SIGTRAP"},     {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},     {SIGFPE, "SIGFPE"},
      {SIGKILL, "SIGKILL"},     {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"},   {SIGUSR2, "SIGUSR2"},
      {SIGPIPE, "SIGPIPE"},     {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"},   {SIGCHLD, "SIGCHLD"},
      {SIGCONT, "SIGCONT"},     {SIGSTOP, "SIGSTOP"}, {SIGTSTP, "SIGTSTP"},   {SIGTTIN, "SIGTTIN"},
      {SIGTTOU, "SIGTTOU"},     {SIGURG, "SIGURG"},   {SIGXCPU, "SIGXCPU"},   {SIGXFSZ, "SIGXFSZ"},
      {SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"}, {SIGWINCH, "SIGWINCH"}, {SIGIO, "SIGIO"},
      {SIGPWR, "SIGPWR"},       {SIGSYS, "SIGSYS"},
  };
  for (const auto& entry : kNames) {
    if (entry.number == sig) return entry.name;
  }
  return "signal " + std::to_string(sig);
}

}  // namespace trainrun::launch
