// NCCL backend of Communicator: NCCL C API on a dedicated CUDA stream, with a watchdog.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "distributed/communicator.h"
#include "store/store.h"

namespace trainrun {

struct NcclOptions {
  // Deadline on every collective and on joining the communicator; 0: the store's, i.e. the
  // group's (dist.timeout_s). Past it the watchdog aborts the communicator and wait() throws
  // TimeoutError naming the collective's sequence number.
  std::chrono::milliseconds timeout{0};
  // How often the watchdog checks in-flight collectives and ncclCommGetAsyncError.
  std::chrono::milliseconds poll_interval{100};
  // CUDA device of this rank; -1: the current device.
  int device = -1;
  // How long ncclCommAbort may take after a failure before the process ends itself (exit code
  // 1, one line on stderr): a rank stuck in abort would otherwise never exit and the launcher
  // would never see the failure (PyTorch's async error handling does the same).
  std::chrono::milliseconds abort_grace{std::chrono::seconds(30)};
  // true: Work::wait() also blocks the host until the collective is done (debugging aid,
  // like TORCH_NCCL_BLOCKING_WAIT); false: wait() only orders the compute stream.
  bool blocking_wait = false;
};

// A collective in flight on the communication stream. wait() makes the caller's current
// LibTorch CUDA stream wait for it and returns at once; it throws TimeoutError / CommError if
// the watchdog already failed it. synchronize() is the host-side wait.
class NcclWork : public Work {
 public:
  // Blocks the host until the collective completed (polling its event, never
  // cudaStreamSynchronize), throwing the watchdog's error or, after `timeout`, TimeoutError
  // (the communicator is aborted then: a half-done collective leaves it unusable).
  virtual void synchronize(std::chrono::milliseconds timeout) = 0;

 protected:
  using Work::Work;
};

// Contract (in addition to Communicator's): tensors are contiguous CUDA tensors on this rank's
// device; a collective is ordered after the work issued before the call on the caller's
// current LibTorch CUDA stream (c10::cuda::getCurrentCUDAStream), runs on the communicator's
// own stream, and its tensors are recorded on that stream, so the caching allocator never
// reuses their memory early even if the caller drops them before wait(). After a timeout or
// NCCL error the communicator is aborted and every later call throws; the job must restart
// (the launcher does that). Collectives return unique_ptr<Work> whose object is an NcclWork.
class NcclCommunicator : public Communicator {
 protected:
  using Communicator::Communicator;
};

// Joins (or, for rank 0, creates) the NCCL communicator of `size` ranks on options.device:
// rank 0's unique id travels through `store` under `prefix` (unique per process group and
// restart and generation: see initDistributed). Blocks until every rank joined, at most
// options.timeout (TimeoutError). Throws CommError if this build has no NCCL or no visible device.
std::unique_ptr<NcclCommunicator> makeNcclCommunicator(Store& store, const std::string& prefix,
                                                       int rank, int size,
                                                       NcclOptions options = {});

}  // namespace trainrun
