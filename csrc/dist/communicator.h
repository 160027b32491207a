// Communicator: collectives across the ranks of a job, async by contract.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

namespace trainrun {

enum class ReduceOp { kSum, kMax, kMin };

// A collective in flight. wait() blocks until it completes, throwing CommError if it failed
// and TimeoutError if `timeout` passes first. Results are in the caller's tensors afterwards.
class Work {
 public:
  static constexpr std::chrono::milliseconds kDefaultTimeout{std::chrono::minutes(5)};
  virtual ~Work() = default;
  virtual void wait(std::chrono::milliseconds timeout = kDefaultTimeout) = 0;
  virtual bool isCompleted() = 0;
};

// Contract: every rank issues the same collectives in the same order (as MPI, NCCL, Gloo).
// Calls return once the operation is queued; tensors must stay alive and untouched until
// wait() returns. Calls are made from one thread per communicator. On GPU backends work is
// ordered after the current compute stream.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* backendName() const = 0;

  // In-place reduction of each tensor across ranks.
  virtual std::unique_ptr<Work> allreduce(std::vector<torch::Tensor>& tensors, ReduceOp op) = 0;
  // Overwrites each tensor with root's copy.
  virtual std::unique_ptr<Work> broadcast(std::vector<torch::Tensor>& tensors, int root) = 0;
  // output[i] receives rank i's `input`; output holds size() tensors shaped as input.
  virtual std::unique_ptr<Work> allgather(std::vector<torch::Tensor>& output,
                                          torch::Tensor& input) = 0;
  // Returns when every rank has entered the barrier, or throws after `timeout`.
  virtual void barrier(std::chrono::milliseconds timeout = Work::kDefaultTimeout) = 0;

  // Training step named in timeout and error messages, so a hang matches the step log.
  virtual void setStep(int64_t step) {}
  // Throws the error that ended this communicator (a watchdog timeout, a peer's failure), if
  // any. GPU backends finish collectives on the device after wait() returns, so the host must
  // ask after each point where it waited on the device, before it uses a step's results
  // (optimizer step, checkpoint). Backends that fail in wait() itself have nothing to add.
  virtual void throwIfFailed() {}
};

}  // namespace trainrun
