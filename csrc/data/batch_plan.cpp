// BatchPlan: checks the batch shape and slices micro-batches of the stream between ranks.
#include "data/batch_plan.h"

#include <stdexcept>
#include <string>

#include "core/error.h"

namespace trainrun {

BatchPlan::BatchPlan(int64_t global_batch, int64_t grad_accum_steps, int world_size, int rank)
    : global_batch_(global_batch), accum_(grad_accum_steps), world_(world_size), rank_(rank) {
  if (world_ < 1 || rank_ < 0 || rank_ >= world_)
    throw ConfigError("rank " + std::to_string(rank_) + " is outside a world of " +
                      std::to_string(world_) + " ranks");
  if (global_batch_ < 1 || accum_ < 1 || global_batch_ % accum_ != 0 ||
      global_batch_ / accum_ < world_)
    throw ConfigError("train.global_batch_size (" + std::to_string(global_batch_) +
                      ") must be divisible by grad_accum_steps (" + std::to_string(accum_) +
                      ") into micro-batches of at least one sample per rank (" +
                      std::to_string(world_) + " ranks)");
}

BatchPlan::Range BatchPlan::positions(uint64_t consumed_samples, int64_t micro) const {
  if (micro < 0 || micro >= accum_)
    throw std::out_of_range("micro-batch " + std::to_string(micro) + " of " +
                            std::to_string(accum_));
  const uint64_t begin =
      consumed_samples + uint64_t(micro * microBatch()) + uint64_t(sliceEnd(rank_ - 1));
  return {begin, uint64_t(localMicroBatch())};
}

}  // namespace trainrun
