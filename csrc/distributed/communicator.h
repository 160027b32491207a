// Communicator: collectives across the ranks of a job, async by contract.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "distributed/flight_recorder.h"

namespace trainrun {

enum class ReduceOp { kSum, kMax, kMin };

// A collective in flight. wait() blocks until it completes, throwing CommError if it failed
// and TimeoutError if the group's deadline passes first; the message names the collective's
// sequence number. Results are in the caller's tensors afterwards.
class Work {
 public:
  virtual ~Work() = default;
  // Bounded by the deadline of the group that issued the collective (dist.timeout_s).
  void wait() { wait(group_timeout_); }
  // The same with a deadline of the caller's (one that must give up sooner than the group).
  virtual void wait(std::chrono::milliseconds timeout) = 0;
  virtual bool isCompleted() = 0;

 protected:
  explicit Work(std::chrono::milliseconds group_timeout) : group_timeout_(group_timeout) {}
  std::chrono::milliseconds groupTimeout() const { return group_timeout_; }

 private:
  const std::chrono::milliseconds group_timeout_;
};

// Contract: every rank issues the same collectives in the same order (as MPI, NCCL, Gloo), so
// the n-th collective has sequence number n on every rank. Calls return once the operation is
// queued; tensors must stay alive and untouched until wait() returns. Calls are made from one
// thread per communicator. On GPU backends work is ordered after the current compute stream.
// The group owns one deadline (timeout(), from dist.timeout_s through the Store); every wait
// is bounded by it unless the caller names a shorter one.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* backendName() const = 0;  // for logs; decide on capabilities, not names
  // Where tensors handed to this communicator must live: the CPU, or this rank's GPU.
  virtual torch::Device device() const = 0;
  std::chrono::milliseconds timeout() const { return timeout_; }

  // In-place reduction of each tensor across ranks.
  virtual std::unique_ptr<Work> allreduce(std::vector<torch::Tensor>& tensors, ReduceOp op) = 0;
  // Overwrites each tensor with root's copy.
  virtual std::unique_ptr<Work> broadcast(std::vector<torch::Tensor>& tensors, int root) = 0;
  // output[i] receives rank i's `input`; output holds size() tensors shaped as input.
  virtual std::unique_ptr<Work> allgather(std::vector<torch::Tensor>& output,
                                          torch::Tensor& input) = 0;
  // Returns when every rank has entered the barrier, or throws after the group's deadline.
  void barrier() { barrier(timeout_); }
  virtual void barrier(std::chrono::milliseconds timeout) = 0;

  // Training step named in timeout and error messages, so a hang matches the step log.
  void setStep(int64_t step) { recorder_->setStep(step); }
  int64_t step() const { return recorder_->step(); }
  // Names the next collective in the flight recorder ("bucket 3"), for hang reports.
  void setTag(std::string tag) { recorder_->setTag(std::move(tag)); }
  // The last collectives issued (sequence number, op, bytes, step, start, state), oldest first.
  std::vector<CollectiveRecord> recentCollectives() const { return recorder_->snapshot(); }
  // Throws the error that ended this communicator (a watchdog timeout, a peer's failure), if
  // any. GPU backends finish collectives on the device after wait() returns, so the host must
  // ask after each point where it waited on the device, before it uses a step's results
  // (optimizer step, checkpoint). Backends that fail in wait() itself have nothing to add.
  virtual void throwIfFailed() {}
  // Fails the collective in progress and every later one on this rank, and (where the
  // transport allows) the peers' matching ones, at once instead of at the deadline: the group
  // is being re-formed (elastic recovery). The one call that may come from another thread,
  // concurrently with collectives. Gloo has no abort: a Gloo collective fails when a peer's
  // process exits and closes its sockets, else at the deadline.
  virtual void abort() {}

 protected:
  explicit Communicator(std::chrono::milliseconds timeout) : timeout_(timeout) {}
  // Shared with the Work objects, which may outlive the communicator.
  const std::shared_ptr<FlightRecorder>& recorder() const { return recorder_; }

 private:
  const std::chrono::milliseconds timeout_;
  const std::shared_ptr<FlightRecorder> recorder_ = std::make_shared<FlightRecorder>();
};

}  // namespace trainrun
