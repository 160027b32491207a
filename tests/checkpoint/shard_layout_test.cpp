// Shard planning: balanced byte ranges, pieces that cover every tensor exactly once.
#include "checkpoint/shard_layout.h"

#include <gtest/gtest.h>

#include "checkpoint/layout.h"
#include "core/error.h"

namespace trainrun {
namespace {

CheckpointState sampleState() {
  CheckpointState s;
  s.replicated = {{"a", torch::zeros({10})},
                  {"b", torch::zeros({3, 7}, torch::kFloat64)},
                  {"c", torch::zeros({1}, torch::kInt64)},
                  {"empty", torch::zeros({0})}};
  s.local = {{"rng", torch::zeros({16}, torch::kUInt8)}};
  return s;
}

TEST(PlanShards, BalancedAndComplete) {
  for (int world : {1, 2, 3, 7}) {
    CheckpointState s = sampleState();
    checkpoint::Manifest m = planShards(s, world);
    const uint64_t replicated = 10 * 4 + 21 * 8 + 8;
    ASSERT_EQ(m.shards_size(), world);
    uint64_t total = 0;
    for (const auto& shard : m.shards()) {
      uint64_t mine = shard.size() - 16;  // minus the rank's local tensor
      EXPECT_LE(mine, replicated / world + 1);
      total += mine;
    }
    EXPECT_EQ(total, replicated);
    // Every replicated tensor's pieces tile it exactly, in order.
    for (const auto& e : m.tensors()) {
      uint64_t covered = 0;
      for (const auto& p : e.pieces()) {
        EXPECT_EQ(p.tensor_offset(), covered);
        EXPECT_LE(p.offset() + p.length(), m.shards(p.shard()).size());
        covered += p.length();
      }
      if (e.rank() < 0) {
        torch::Tensor t;
        for (const auto& [name, tensor] : s.replicated)
          if (name == e.name()) t = tensor;
        EXPECT_EQ(covered, uint64_t(t.numel() * t.element_size())) << e.name();
      }
    }
    EXPECT_EQ(m.tensors_size(), 4 + world);  // one local entry per rank
  }
}

TEST(PlanShards, DtypeNamesRoundTrip) {
  for (auto t : {torch::kFloat32, torch::kBFloat16, torch::kInt64, torch::kUInt8})
    EXPECT_EQ(dtypeFromName(dtypeName(t)), t);
  EXPECT_THROW(dtypeFromName("complex32"), StorageError);
  EXPECT_EQ(shardKey(1, 4), "shard-00001-of-00004.bin");
}

}  // namespace
}  // namespace trainrun
