// Error types thrown at API boundaries; each maps to one user-facing line and an exit code.
#pragma once

#include <stdexcept>
#include <string>

namespace trainrun {

// Base of every error trainrun throws on purpose. what() is a complete sentence for the user.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  // Process exit code main() uses when this error ends the program.
  virtual int exitCode() const { return 1; }
};

// Bad job config, CLI flag or input file: the user must fix something. Exit code 2.
class ConfigError : public Error {
 public:
  using Error::Error;
  int exitCode() const override { return 2; }
};

// A collective or the rendezvous failed (peer died, mismatched ranks, transport error).
class CommError : public Error {
 public:
  using Error::Error;
};

// A CUDA runtime call or a kernel failed.
class CudaError : public Error {
 public:
  using Error::Error;
};

// A blocking call ran past its deadline.
class TimeoutError : public Error {
 public:
  using Error::Error;
};

// Reading or writing checkpoint / artifact storage failed.
class StorageError : public Error {
 public:
  using Error::Error;
};

// Training diverged: the loss or a parameter is no longer finite. The same config fails the
// same way again, so like a config error it is permanent: exit code 2, never restarted.
class DivergedError : public ConfigError {
 public:
  using ConfigError::ConfigError;
};

// The device or the host ran out of memory. The same config runs out again, so like a config
// error it is permanent: exit code 2, never restarted.
class OutOfMemoryError : public ConfigError {
 public:
  using ConfigError::ConfigError;
};

// Exit codes a scheduler retries (128..255 under Kubeflow's `restartPolicy: ExitCode`; the "Exit
// codes" table of docs/operations.md is the one list): the retried job resumes from the newest
// checkpoint. A preempted rank and launcher exit 143 (128 + SIGTERM, what a container stopped by
// SIGTERM reports anyway); a launcher whose job lost another node, or node 0's rendezvous store,
// exits 129 (128 + SIGHUP: the line hung up). Config and data errors keep 2 (permanent).
inline constexpr int kExitPreempted = 143;
inline constexpr int kExitLostNode = 129;

// Training stopped for a preemption (SIGTERM, a spot interruption notice); what() says how it
// ended. Not a failure: main() exits kExitPreempted without an error line.
class Preempted : public Error {
 public:
  using Error::Error;
  int exitCode() const override { return kExitPreempted; }
};

}  // namespace trainrun
