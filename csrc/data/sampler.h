// DistributedSampler: which samples each rank takes for every micro-step of every step.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace trainrun {

// A global batch holds the same samples whatever the world size: every epoch is a seeded
// permutation of the dataset cut into global batches (the incomplete tail is dropped); each
// global batch is cut into grad_accum_steps micro-batches, and rank r takes the r-th of
// world_size slices of each micro-batch: [n*r/world, n*(r+1)/world) of its n samples, equal
// when world_size divides n (an elastic job that shrank to 3 ranks of a 64-sample batch has
// slices of 21, 21 and 22; the trainer weights each rank's loss by its slice, weight()).
class DistributedSampler {
 public:
  DistributedSampler(int64_t num_samples, int64_t global_batch, int64_t grad_accum_steps, int rank,
                     int world_size, uint64_t seed);

  int64_t stepsPerEpoch() const { return num_samples_ / global_batch_; }
  int64_t microBatch() const { return global_batch_ / accum_; }  // over all ranks
  int64_t localMicroBatch() const { return sliceEnd(rank_) - sliceEnd(rank_ - 1); }
  // This rank's share of a micro-batch times the world size: 1 for equal slices. A rank's mean
  // loss times weight() makes the ranks' average the micro-batch's mean.
  double weight() const { return double(localMicroBatch() * world_) / double(microBatch()); }
  // Sample indices, (localMicroBatch(),) int64, for `micro` of step `step_in_epoch`.
  torch::Tensor indices(int64_t epoch, int64_t step_in_epoch, int64_t micro);

 private:
  int64_t sliceEnd(int r) const { return microBatch() * (r + 1) / world_; }

  int64_t num_samples_, global_batch_, accum_;
  int rank_, world_;
  uint64_t seed_;
  int64_t cached_epoch_ = -1;
  torch::Tensor perm_;  // (num_samples,) permutation of cached_epoch_
};

}  // namespace trainrun
