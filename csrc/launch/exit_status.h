// How a rank ended (exit code or signal), in words and as a shell exit code.
#pragma once

#include <string>

namespace trainrun::launch {

struct ExitStatus {
  bool signaled = false;  // killed by `signal`; else exited with `code`
  int code = 0;
  int signal = 0;
  bool core_dumped = false;

  // From a waitpid() status word.
  static ExitStatus fromWaitStatus(int status);
  bool ok() const { return !signaled && code == 0; }
  // What a shell would report: the exit code, or 128 + signal number.
  int shellCode() const { return signaled ? 128 + signal : code; }
  // "exit code 3", "killed by SIGKILL".
  std::string describe() const;
  // Why it likely happened, or "" ("likely an out-of-memory kill; check dmesg" for SIGKILL).
  std::string hint() const;
};

// "SIGTERM", "SIGKILL", ...; "signal 42" for numbers without a name.
std::string signalName(int sig);

}  // namespace trainrun::launch
