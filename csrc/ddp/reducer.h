// Reducer: all-reduces gradients in buckets from autograd hooks while backward still runs.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <vector>

#include "core/clock.h"
#include "ddp/bucket.h"
#include "distributed/communicator.h"

namespace trainrun {

struct ReducerOptions {
  double first_bucket_mb = 1;  // small first bucket: communication starts early
  double bucket_cap_mb = 25;   // later buckets
  // The wire type of the all-reduce (dist.compression): kFloat (none) sends the buckets as
  // they are; kHalf or kBFloat16 sends each bucket divided by the world size and cast, then
  // casts the sum back (DDP's fp16/bf16 compression hooks): half the bytes, a rounding error.
  torch::ScalarType wire_type = torch::kFloat;
};

// What happened to each bucket in the last synchronized backward (tests and logs read it).
struct BucketTrace {
  int64_t bytes = 0;  // on the wire (compressed, when dist.compression is set)
  // Parameters (of all buckets) whose gradient hook had not fired yet when this bucket's
  // all-reduce was launched: > 0 means communication overlapped with backward.
  int64_t pending_grads_at_launch = 0;
  Clock::time_point launched;
};

// Data-parallel gradient averaging, PyTorch DDP style.
//
// Use per step:  prepareForBackward(sync) -> loss.backward() -> finalizeBackward() -> step.
// With sync=false (grad accumulation micro-steps) gradients only accumulate locally.
// Gradients are views into bucket buffers (DDP's gradient_as_bucket_view), so zeroGrad()
// must be used instead of the optimizer's zero_grad(), which may re-allocate them.
// Threads: hooks run on autograd's thread; all other calls come from the training thread.
class Reducer {
 public:
  Reducer(std::vector<torch::Tensor> params, Communicator* comm, ReducerOptions options);
  ~Reducer();
  Reducer(const Reducer&) = delete;
  Reducer& operator=(const Reducer&) = delete;

  void prepareForBackward(bool sync);
  // Launches any bucket not launched yet (unused parameters), waits for all of them and
  // divides by the world size. A no-op after a non-sync backward.
  void finalizeBackward();
  void zeroGrad();
  // Elastic recovery: the group was re-formed. Drops the collectives of an abandoned step
  // (the old communicator is gone) and reduces on `comm` from now on.
  void setCommunicator(Communicator* comm);

  const std::vector<Bucket>& buckets() const { return buckets_; }
  const std::vector<BucketTrace>& lastTrace() const { return trace_; }
  // When each parameter's gradient hook fired in the last synchronized backward (the step
  // profile's per-parameter backward times).
  const std::vector<Clock::time_point>& lastGradReady() const { return grad_ready_; }

 private:
  void onGradReady(size_t param_index);
  void launch(size_t bucket_index);

  std::vector<torch::Tensor> params_;
  Communicator* comm_;  // null only between an elastic group's generations (no step runs)
  ReducerOptions options_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_param_;
  std::vector<torch::Tensor> grad_views_;  // per parameter: its gradient's slice of a bucket
  std::vector<std::shared_ptr<torch::autograd::Node>> grad_accumulators_;  // keep hooks alive
  std::vector<uintptr_t> hook_keys_;

  // Per-step state, reset by prepareForBackward.
  bool sync_ = true;
  std::vector<int64_t> pending_in_bucket_;
  int64_t pending_total_ = 0;
  size_t next_to_launch_ = 0;
  std::vector<std::unique_ptr<Work>> works_;
  std::vector<BucketTrace> trace_;
  std::vector<Clock::time_point> grad_ready_;
};

// Overwrites every tensor with rank 0's values (parameters and buffers at start-up), using
// one flat broadcast per dtype, each bounded by the group's deadline.
void broadcastFromRank0(Communicator& comm, const std::vector<torch::Tensor>& tensors);

}  // namespace trainrun
