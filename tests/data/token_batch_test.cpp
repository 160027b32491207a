// TokenBatchReader over real shard files: rows are the stream's windows, split into inputs and
// targets; the ranks' slices of a step together are the step's global batch at any shape.
#include "data/token_batch.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "data/batch_plan.h"
#include "support/temp_dir.h"

namespace trainrun {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

// Token i of shard s is tokenAt(s, i): a reader that takes the wrong shard or offset shows.
uint32_t tokenAt(size_t shard, uint64_t i) { return uint32_t((shard * 7919 + i) % 50000); }

class TokenBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::vector<size_t> counts{1000, 333, 2049};
    for (size_t s = 0; s < counts.size(); ++s) {
      std::vector<uint32_t> tokens(counts[s]);
      for (size_t i = 0; i < counts[s]; ++i) tokens[i] = tokenAt(s, i);
      const std::string name = "shard_" + std::to_string(s) + ".bin";
      std::ofstream(dir_.path() / name, std::ios::binary)
          << encodeShard(ShardFormat::kLlmc, TokenDtype::kUint16, tokens);
    }
    source_ = openLocalShardSource(dir_.str(), {}, 50000);
    manifest_ = buildManifest(*source_);
    stream_ = std::make_unique<SampleStream>(manifest_, kT, SampleOrderOptions{3, 4, 2});
  }

  static constexpr uint64_t kT = 16;
  TempDir dir_;
  std::unique_ptr<ShardSource> source_;
  ShardManifest manifest_;
  std::unique_ptr<SampleStream> stream_;
};

TEST_F(TokenBatchTest, RowsAreTheStreamsWindowsSplitIntoInputsAndTargets) {
  const TokenBatchReader reader(*source_, manifest_, *stream_);
  const uint64_t begin = 150, count = 100;  // crosses the epoch boundary (210 windows an epoch)
  std::vector<int64_t> in(count * kT), tgt(count * kT);
  reader.read(begin, count, in.data(), tgt.data());
  std::vector<int32_t> in32(count * kT), tgt32(count * kT);
  reader.read(begin, count, in32.data(), tgt32.data());
  for (uint64_t i = 0; i < count; ++i) {
    const WindowRef w = stream_->windowAt(begin + i);
    for (uint64_t t = 0; t < kT; ++t) {
      ASSERT_EQ(in[i * kT + t], tokenAt(w.shard, w.token_offset + t)) << i << " " << t;
      ASSERT_EQ(tgt[i * kT + t], tokenAt(w.shard, w.token_offset + t + 1)) << i << " " << t;
      ASSERT_EQ(in32[i * kT + t], in[i * kT + t]);
      ASSERT_EQ(tgt32[i * kT + t], tgt[i * kT + t]);
    }
  }
  EXPECT_EQ(stream_->windowsPerEpoch(), 999u / 16 + 332 / 16 + 2048 / 16);
  const std::vector<uint64_t> ids = reader.windowIds(5, 3);
  EXPECT_EQ(ids, (std::vector<uint64_t>{stream_->windowId(5), stream_->windowId(6),
                                        stream_->windowId(7)}));
  reader.prefetch(0, 500);  // a hint over two epochs' windows: must not fail
}

TEST_F(TokenBatchTest, TheRanksOfAStepReadTheGlobalBatchAtEveryShape) {
  const TokenBatchReader reader(*source_, manifest_, *stream_);
  struct Shape {
    int64_t batch, accum;
    int world;
  };
  const uint64_t consumed = 211;
  std::vector<int64_t> whole_in(48 * kT), whole_tgt(48 * kT);
  reader.read(consumed, 48, whole_in.data(), whole_tgt.data());
  for (const Shape& s : {Shape{48, 1, 1}, Shape{48, 2, 2}, Shape{48, 1, 5}, Shape{48, 4, 3}}) {
    std::vector<int64_t> got_in, got_tgt;
    for (int64_t micro = 0; micro < s.accum; ++micro)
      for (int rank = 0; rank < s.world; ++rank) {
        const BatchPlan::Range r =
            BatchPlan(s.batch, s.accum, s.world, rank).positions(consumed, micro);
        std::vector<int64_t> in(r.count * kT), tgt(r.count * kT);
        reader.read(r.begin, r.count, in.data(), tgt.data());
        got_in.insert(got_in.end(), in.begin(), in.end());
        got_tgt.insert(got_tgt.end(), tgt.begin(), tgt.end());
      }
    EXPECT_EQ(got_in, whole_in) << s.accum << " " << s.world;
    EXPECT_EQ(got_tgt, whole_tgt) << s.accum << " " << s.world;
  }
}

TEST_F(TokenBatchTest, AnIdOutsideTheModelsVocabularyNamesTheShardFile) {
  auto small_vocab = openLocalShardSource(dir_.str(), {}, 100);
  const TokenBatchReader reader(*small_vocab, manifest_, *stream_);
  std::vector<int32_t> in(kT), tgt(kT);
  try {
    for (uint64_t p = 0; p < 20; ++p) reader.read(p, 1, in.data(), tgt.data());
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("shard_"));
    EXPECT_THAT(e.what(), HasSubstr("is >= the vocabulary size 100"));
  }
}

}  // namespace
}  // namespace trainrun
