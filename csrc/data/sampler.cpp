// DistributedSampler: seeded per-epoch permutation, global batches sliced per rank.
#include "data/sampler.h"

#include <ATen/CPUGeneratorImpl.h>

#include "core/error.h"

namespace trainrun {

DistributedSampler::DistributedSampler(int64_t num_samples, int64_t global_batch,
                                       int64_t grad_accum_steps, int rank, int world_size,
                                       uint64_t seed)
    : num_samples_(num_samples),
      global_batch_(global_batch),
      accum_(grad_accum_steps),
      rank_(rank),
      world_(world_size),
      seed_(seed) {
  if (global_batch % accum_ != 0 || global_batch / accum_ < world_)
    throw ConfigError("train.global_batch_size (" + std::to_string(global_batch) +
                      ") must be divisible by grad_accum_steps (" + std::to_string(accum_) +
                      ") into micro-batches of at least one sample per rank (" +
                      std::to_string(world_) + " ranks)");
  if (global_batch > num_samples)
    throw ConfigError("train.global_batch_size (" + std::to_string(global_batch) +
                      ") is larger than the training set (" + std::to_string(num_samples) +
                      " samples)");
}

torch::Tensor DistributedSampler::indices(int64_t epoch, int64_t step_in_epoch, int64_t micro) {
  if (epoch != cached_epoch_) {
    // Mix the epoch into the seed so each epoch gets an independent, reproducible order.
    auto gen = at::detail::createCPUGenerator(seed_ * 1000003ULL + static_cast<uint64_t>(epoch));
    perm_ = at::randperm(num_samples_, gen, torch::kLong);
    cached_epoch_ = epoch;
  }
  int64_t micro_global = global_batch_ / accum_;
  int64_t start = step_in_epoch * global_batch_ + micro * micro_global + sliceEnd(rank_ - 1);
  return perm_.narrow(0, start, localMicroBatch());
}

}  // namespace trainrun
