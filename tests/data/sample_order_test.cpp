// The sample order: bijections (exhaustive for small n), determinism, locality, O(1) lookups,
// windows over a manifest, and streams that world size, accumulation and batch do not change.
#include "data/sample_order.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <vector>

#include "core/error.h"
#include "data/batch_plan.h"
#include "data/token_windows.h"

namespace trainrun {
namespace {

// Every value of [0, n) exactly once.
bool isPermutation(const std::vector<uint64_t>& v) {
  std::vector<bool> seen(v.size(), false);
  for (uint64_t x : v) {
    if (x >= v.size() || seen[x]) return false;
    seen[x] = true;
  }
  return true;
}

TEST(KeyedPermutation, IsABijectionWithItsInverseForEverySmallSize) {
  for (uint64_t n = 1; n <= 300; ++n) {
    for (uint64_t key : {0ULL, 1ULL, 0xdeadbeefULL}) {
      const KeyedPermutation p(n, key);
      std::vector<uint64_t> image(n);
      for (uint64_t i = 0; i < n; ++i) {
        image[i] = p(i);
        ASSERT_EQ(p.inverse(image[i]), i) << "n=" << n << " key=" << key;
      }
      ASSERT_TRUE(isPermutation(image)) << "n=" << n << " key=" << key;
    }
  }
  for (uint64_t n : {1024ULL, 1025ULL, 65536ULL, 100003ULL}) {
    const KeyedPermutation p(n, 42);
    std::vector<uint64_t> image(n);
    for (uint64_t i = 0; i < n; ++i) image[i] = p(i);
    EXPECT_TRUE(isPermutation(image)) << n;
  }
}

TEST(KeyedPermutation, IsDeterministicAndKeyed) {
  const KeyedPermutation a(1000, 7), b(1000, 7), c(1000, 8);
  int same_as_c = 0, fixed = 0;
  for (uint64_t i = 0; i < 1000; ++i) {
    ASSERT_EQ(a(i), b(i));
    same_as_c += a(i) == c(i);
    fixed += a(i) == i;
  }
  EXPECT_LT(same_as_c, 20);  // another key: another permutation (~1 coincidence expected)
  EXPECT_LT(fixed, 20);      // and not the identity
}

TEST(SampleOrder, PinnedValuesDoNotMove) {
  // The stream a checkpoint resumes must not change under a rebuild or another compiler: a
  // change that moves these values bumps kSampleOrderVersion and updates them.
  ASSERT_EQ(kSampleOrderVersion, 1);
  const KeyedPermutation p(1000, 7);
  EXPECT_EQ((std::vector<uint64_t>{p(0), p(1), p(999)}), (std::vector<uint64_t>{413, 755, 637}));
  const SampleOrder order(100000, {42, 512, 16});
  EXPECT_EQ((std::vector<uint64_t>{order.windowAt(0, 0), order.windowAt(0, 1), order.windowAt(1, 0),
                                   order.streamAt(12345678)}),
            (std::vector<uint64_t>{99882, 51053, 73823, 88509}));
}

struct OrderCase {
  uint64_t n, block_windows, group_blocks;
};

TEST(SampleOrder, EachEpochIsAPermutationForEveryShapeOfBlocksAndGroups) {
  for (const OrderCase& c :
       {OrderCase{1, 1, 1}, OrderCase{1, 512, 16}, OrderCase{7, 3, 2}, OrderCase{100, 1, 1},
        OrderCase{100, 10, 3}, OrderCase{101, 10, 3}, OrderCase{109, 10, 3}, OrderCase{1000, 7, 5},
        OrderCase{1000, 8, 1}, OrderCase{4097, 512, 16}, OrderCase{5000, 100, 100}}) {
    const SampleOrder order(c.n, {123, c.block_windows, c.group_blocks});
    for (uint64_t epoch : {0ULL, 1ULL, 17ULL}) {
      std::vector<uint64_t> image(c.n);
      for (uint64_t p = 0; p < c.n; ++p) image[p] = order.windowAt(epoch, p);
      ASSERT_TRUE(isPermutation(image))
          << "n=" << c.n << " G=" << c.block_windows << " K=" << c.group_blocks << " e=" << epoch;
    }
  }
}

TEST(SampleOrder, IsAPureFunctionOfSeedEpochAndSize) {
  const SampleOrder a(10000, {5, 64, 4}), b(10000, {5, 64, 4}), seed6(10000, {6, 64, 4});
  int differs_by_epoch = 0, differs_by_seed = 0;
  for (uint64_t p = 0; p < 10000; ++p) {
    ASSERT_EQ(a.windowAt(3, p), b.windowAt(3, p));
    ASSERT_EQ(a.streamAt(3 * 10000 + p), a.windowAt(3, p));
    differs_by_epoch += a.windowAt(0, p) != a.windowAt(1, p);
    differs_by_seed += a.windowAt(0, p) != seed6.windowAt(0, p);
  }
  EXPECT_GT(differs_by_epoch, 9000);
  EXPECT_GT(differs_by_seed, 9000);
}

TEST(SampleOrder, AGroupOfPositionsReadsOnlyItsBlocks) {
  // Positions [g*K*G, (g+1)*K*G) touch exactly K blocks of G windows (the locality a shard
  // cache relies on); a full shuffle (1, 1) would touch ~K*G distinct blocks.
  const uint64_t n = 64 * 1000, g = 64, k = 8;
  const SampleOrder order(n, {9, g, k});
  for (uint64_t group = 0; group < 5; ++group) {
    std::set<uint64_t> blocks;
    for (uint64_t p = group * k * g; p < (group + 1) * k * g; ++p)
      blocks.insert(order.windowAt(2, p) / g);
    EXPECT_EQ(blocks.size(), k);
  }
  // Neighbouring positions are not neighbouring windows: the group is shuffled.
  int adjacent = 0;
  for (uint64_t p = 0; p + 1 < k * g; ++p)
    adjacent += order.windowAt(2, p + 1) == order.windowAt(2, p) + 1;
  EXPECT_LT(adjacent, 20);
}

TEST(SampleOrder, AnyPositionCostsTheSameInConstantMemory) {
  // 2^50 windows: a table, or a walk from the epoch's start, could not finish.
  const uint64_t n = uint64_t(1) << 50;
  const SampleOrder order(n, {1, 512, 16});
  const auto time = [&](uint64_t first) {
    const auto t0 = std::chrono::steady_clock::now();
    uint64_t sum = 0;
    for (uint64_t p = first; p < first + 20000; ++p) sum += order.windowAt(0, p) < n;
    EXPECT_EQ(sum, 20000u);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  const double at_start = time(0), at_90_percent = time(n / 10 * 9);
  EXPECT_LT(at_90_percent, 0.5);  // ~1 us each; 25 us each would be a shared machine at its worst
  EXPECT_LT(at_90_percent, 10 * at_start + 0.05);
}

TEST(SampleOrder, RefusesEmptyDataAndZeroOptions) {
  EXPECT_THROW(SampleOrder(0, {}), ConfigError);
  EXPECT_THROW(SampleOrder(10, {0, 0, 1}), ConfigError);
  EXPECT_THROW(SampleOrder(10, {0, 1, 0}), ConfigError);
}

ShardManifest manifestWithTokens(const std::vector<uint64_t>& counts) {
  ShardManifest m;
  m.source = "test";
  for (size_t i = 0; i < counts.size(); ++i) {
    ShardInfo s;
    s.key = "shard_" + std::to_string(i) + ".bin";
    s.header.format = ShardFormat::kLlmc;
    s.header.token_count = counts[i];
    m.shards.push_back(s);
  }
  return m;
}

TEST(WindowIndex, CutsEachShardIntoWindowsThatNeverCrossIt) {
  // block_size 4: windows of 5 tokens at stride 4. 9 tokens -> 2 windows, 5 -> 1, 12 -> 2.
  const WindowIndex w(manifestWithTokens({9, 5, 12}), 4);
  EXPECT_EQ(w.size(), 5u);
  EXPECT_EQ(w.firstWindow(2), 3u);
  EXPECT_EQ(w.at(0), (WindowRef{0, 0}));
  EXPECT_EQ(w.at(1), (WindowRef{0, 4}));
  EXPECT_EQ(w.at(2), (WindowRef{1, 0}));
  EXPECT_EQ(w.at(3), (WindowRef{2, 0}));
  EXPECT_EQ(w.at(4), (WindowRef{2, 4}));
  EXPECT_THROW(w.at(5), std::out_of_range);
  EXPECT_THROW(WindowIndex(manifestWithTokens({9, 4}), 4), ConfigError);  // no window in shard 1
  try {
    WindowIndex(manifestWithTokens({9, 4}), 4);
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "token shard 'shard_1.bin' of data.path 'test' holds 4 tokens, fewer than one "
                 "window of "
                 "block_size + 1 = 5 (merge it into another shard or remove it)");
  }
}

TEST(SampleStream, VisitsEveryWindowOncePerEpoch) {
  const SampleStream stream(manifestWithTokens({1000, 37, 2049}), 16, {77, 8, 4});
  const uint64_t n = stream.windowsPerEpoch();
  EXPECT_EQ(n, 999u / 16 + 36 / 16 + 2048 / 16);
  for (uint64_t epoch = 0; epoch < 3; ++epoch) {
    std::set<std::pair<size_t, uint64_t>> seen;
    for (uint64_t p = epoch * n; p < (epoch + 1) * n; ++p) {
      const WindowRef w = stream.windowAt(p);
      EXPECT_EQ(w.token_offset % 16, 0u);
      seen.insert({w.shard, w.token_offset});
    }
    EXPECT_EQ(seen.size(), n);
  }
}

// The positions every rank takes for a step, in rank order within each micro-batch.
std::vector<uint64_t> stepPositions(uint64_t consumed, int64_t batch, int64_t accum, int world) {
  std::vector<uint64_t> out;
  for (int64_t micro = 0; micro < accum; ++micro)
    for (int rank = 0; rank < world; ++rank) {
      const BatchPlan::Range r = BatchPlan(batch, accum, world, rank).positions(consumed, micro);
      for (uint64_t i = 0; i < r.count; ++i) out.push_back(r.begin + i);
    }
  return out;
}

TEST(BatchPlan, TheRanksOfAStepTakeExactlyTheStreamsNextGlobalBatch) {
  struct Shape {
    int64_t batch, accum;
    int world;
  };
  for (const Shape& s : {Shape{64, 1, 1}, Shape{64, 1, 2}, Shape{64, 2, 2}, Shape{64, 1, 3},
                         Shape{64, 4, 5}, Shape{60, 3, 7}, Shape{8, 8, 1}, Shape{12, 2, 6}}) {
    for (uint64_t consumed : {0ULL, 64ULL, 1000003ULL}) {
      std::vector<uint64_t> expect(size_t(s.batch));
      for (int64_t i = 0; i < s.batch; ++i) expect[size_t(i)] = consumed + uint64_t(i);
      EXPECT_EQ(stepPositions(consumed, s.batch, s.accum, s.world), expect)
          << s.batch << " " << s.accum << " " << s.world;
    }
  }
  // Floor-split slices like DistributedSampler: 64 over 3 ranks is 21, 21, 22.
  EXPECT_EQ(BatchPlan(64, 1, 3, 0).localMicroBatch(), 21);
  EXPECT_EQ(BatchPlan(64, 1, 3, 2).localMicroBatch(), 22);
  EXPECT_DOUBLE_EQ(BatchPlan(64, 1, 3, 2).weight(), 66.0 / 64);
  EXPECT_EQ(BatchPlan(64, 1, 3, 1).positions(128, 0).begin, 128u + 21);
  EXPECT_EQ(BatchPlan(64, 2, 2, 1).positions(0, 1).begin, 32u + 16);
}

TEST(BatchPlan, AResumeAtAnotherShapeContinuesTheSameSampleSequence) {
  // 2 ranks, batch 48, for 5 steps; killed; resumed at 1 rank with accumulation 2 for 3 steps;
  // then 3 ranks with batch 36 (another global batch: the same sequence, grouped differently).
  const SampleStream stream(manifestWithTokens({4000, 3000}), 32, {11, 4, 4});
  std::vector<uint64_t> taken;
  const auto run = [&](uint64_t consumed, int64_t batch, int64_t accum, int world, int steps) {
    for (int step = 0; step < steps; ++step) {
      for (uint64_t p : stepPositions(consumed, batch, accum, world))
        taken.push_back(stream.windowId(p));
      consumed = BatchPlan(batch, accum, world, 0).after(consumed);
    }
    return consumed;
  };
  uint64_t consumed = run(0, 48, 1, 2, 5);
  consumed = run(consumed, 48, 2, 1, 3);
  consumed = run(consumed, 36, 1, 3, 4);
  ASSERT_EQ(consumed, 48u * 8 + 36 * 4);
  std::vector<uint64_t> uninterrupted;
  for (uint64_t p = 0; p < consumed; ++p) uninterrupted.push_back(stream.windowId(p));
  EXPECT_EQ(taken, uninterrupted);
  EXPECT_GT(consumed, stream.windowsPerEpoch());  // and it crossed an epoch boundary
}

TEST(BatchPlan, RefusesShapesThatDoNotSplit) {
  EXPECT_THROW(BatchPlan(64, 3, 1, 0), ConfigError);
  EXPECT_THROW(BatchPlan(4, 2, 3, 0), ConfigError);
  EXPECT_THROW(BatchPlan(4, 1, 2, 2), ConfigError);
  EXPECT_THROW(BatchPlan(4, 1, 2, 0).positions(0, 1), std::out_of_range);
}

}  // namespace
}  // namespace trainrun
