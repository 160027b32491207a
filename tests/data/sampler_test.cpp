// DistributedSampler: a global batch holds the same samples whatever the world size.
#include "data/sampler.h"

#include <gtest/gtest.h>

#include <set>

#include "core/error.h"

namespace trainrun {
namespace {

std::vector<int64_t> globalBatch(int world, int64_t accum, int64_t epoch, int64_t step) {
  std::vector<int64_t> all;
  for (int64_t micro = 0; micro < accum; ++micro) {
    for (int r = 0; r < world; ++r) {
      DistributedSampler s(100, 24, accum, r, world, /*seed=*/3);
      torch::Tensor idx = s.indices(epoch, step, micro);
      EXPECT_EQ(idx.numel(), s.localMicroBatch());
      all.insert(all.end(), idx.data_ptr<int64_t>(), idx.data_ptr<int64_t>() + idx.numel());
    }
  }
  return all;
}

TEST(DistributedSampler, GlobalBatchIndependentOfWorldSizeAndAccumulation) {
  for (int64_t step : {0, 3}) {
    auto one = globalBatch(1, 1, 2, step);
    EXPECT_EQ(globalBatch(2, 1, 2, step), one);
    EXPECT_EQ(globalBatch(4, 1, 2, step), one);
    EXPECT_EQ(globalBatch(2, 2, 2, step), one);
    EXPECT_EQ(globalBatch(5, 1, 2, step), one);  // uneven slices: 4, 5, 5, 5, 5
    EXPECT_EQ(globalBatch(5, 2, 2, step), one);
    EXPECT_EQ(std::set<int64_t>(one.begin(), one.end()).size(), one.size());  // no repeats
  }
}

TEST(DistributedSampler, EpochsAreReshuffledAndReproducible) {
  DistributedSampler a(100, 10, 1, 0, 1, 5), b(100, 10, 1, 0, 1, 5), c(100, 10, 1, 0, 1, 6);
  EXPECT_TRUE(a.indices(0, 0, 0).equal(b.indices(0, 0, 0)));
  EXPECT_FALSE(a.indices(0, 0, 0).equal(a.indices(1, 0, 0)));
  EXPECT_FALSE(a.indices(0, 0, 0).equal(c.indices(0, 0, 0)));
  EXPECT_EQ(a.stepsPerEpoch(), 10);
}

TEST(DistributedSampler, EpochCoversEverySampleOnce) {
  DistributedSampler s(100, 20, 1, 0, 1, 1);
  std::set<int64_t> seen;
  for (int64_t step = 0; step < s.stepsPerEpoch(); ++step) {
    torch::Tensor idx = s.indices(0, step, 0);
    seen.insert(idx.data_ptr<int64_t>(), idx.data_ptr<int64_t>() + idx.numel());
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(DistributedSampler, WeightsMakeUnevenSlicesAverageToTheBatchMean) {
  // Each rank's mean of its slice, weighted, averaged over ranks (what the Reducer computes)
  // equals the mean over the whole micro-batch.
  const int world = 3;  // 64 samples: slices of 21, 21, 22
  double averaged = 0, whole = 0;
  for (int r = 0; r < world; ++r) {
    DistributedSampler s(100, 64, 1, r, world, 0);
    const torch::Tensor idx = s.indices(0, 0, 0).to(torch::kDouble);
    averaged += s.weight() * idx.mean().item<double>() / world;
    whole += idx.sum().item<double>() / 64;
  }
  EXPECT_NEAR(averaged, whole, 1e-12);
  EXPECT_EQ(DistributedSampler(100, 64, 1, 1, 2, 0).weight(), 1.0);  // equal slices: exactly 1
}

TEST(DistributedSampler, RejectsIndivisibleBatch) {
  EXPECT_THROW(DistributedSampler(100, 10, 3, 0, 1, 0), ConfigError);  // accumulation
  EXPECT_THROW(DistributedSampler(100, 12, 4, 0, 4, 0), ConfigError);  // 3 per micro, 4 ranks
  EXPECT_THROW(DistributedSampler(10, 20, 1, 0, 1, 0), ConfigError);
}

}  // namespace
}  // namespace trainrun
