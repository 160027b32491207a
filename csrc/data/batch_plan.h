// BatchPlan: which stream positions each rank takes for each micro-batch of a step.
#pragma once

#include <cstdint>

namespace trainrun {

// A step takes the next global_batch positions of the sample stream (token_windows.h), from
// consumed_samples (the positions every earlier step took; what a checkpoint saves). Micro-batch
// m of it is positions [consumed + m * M, consumed + (m + 1) * M), M = global_batch / accum, and
// rank r takes its r-th of world_size slices, [M * r / W, M * (r + 1) / W), floor-split like
// DistributedSampler (3 ranks of a 64-sample micro-batch take 21, 21 and 22). The stream has no
// epoch tail to drop: a batch may span two epochs. So the positions a step covers depend only on
// consumed_samples and the global batch: resuming at another world size or accumulation takes
// exactly the samples the old job would have taken, and with another global batch the same
// sequence continues, grouped into batches differently.
class BatchPlan {
 public:
  struct Range {
    uint64_t begin = 0;  // stream position of this rank's first sample
    uint64_t count = 0;  // consecutive positions
  };

  // Throws ConfigError when global_batch is not divisible by grad_accum_steps into micro-batches
  // of at least one sample per rank, or for a rank outside [0, world_size).
  BatchPlan(int64_t global_batch, int64_t grad_accum_steps, int world_size, int rank);

  int64_t globalBatch() const { return global_batch_; }
  int64_t microBatch() const { return global_batch_ / accum_; }  // over all ranks
  int64_t localMicroBatch() const { return sliceEnd(rank_) - sliceEnd(rank_ - 1); }
  // This rank's share of a micro-batch times the world size (1 for equal slices): a rank's mean
  // loss times weight() makes the ranks' average the micro-batch's mean.
  double weight() const { return double(localMicroBatch() * world_) / double(microBatch()); }

  // This rank's positions for micro-batch `micro` (0..accum-1) of the step that starts at
  // `consumed_samples`.
  Range positions(uint64_t consumed_samples, int64_t micro) const;
  // consumed_samples after the step that starts at `consumed_samples`.
  uint64_t after(uint64_t consumed_samples) const { return consumed_samples + global_batch_; }

 private:
  int64_t sliceEnd(int r) const { return microBatch() * (r + 1) / world_; }

  int64_t global_batch_, accum_;
  int world_, rank_;
};

}  // namespace trainrun
