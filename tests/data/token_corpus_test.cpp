// TokenCorpus and BatchPrefetcher over real shard files: what data.name=tokens trains on.
#include "data/token_corpus.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config/config.h"
#include "core/error.h"
#include "data/batch_prefetcher.h"
#include "support/temp_dir.h"

namespace trainrun {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

// Token i of shard s: a read of the wrong shard or offset shows.
uint32_t tokenAt(size_t shard, uint64_t i) { return uint32_t((shard * 7919 + i) % 50000); }

void writeShard(const std::filesystem::path& path, size_t shard, size_t count,
                ShardFormat format = ShardFormat::kLlmc) {
  std::vector<uint32_t> tokens(count);
  for (size_t i = 0; i < count; ++i) tokens[i] = tokenAt(shard, i);
  std::ofstream(path, std::ios::binary) << encodeShard(format, TokenDtype::kUint16, tokens);
}

class TokenCorpusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.path() / "train");
    std::filesystem::create_directories(dir_.path() / "val");
    writeShard(dir_.path() / "train/shard_0.bin", 0, 1000);
    writeShard(dir_.path() / "train/shard_1.bin", 1, 333);
    writeShard(dir_.path() / "train/shard_2.bin", 2, 2049);
    writeShard(dir_.path() / "val/val_0.bin", 9, 200);
  }

  config::JobConfig config(const std::string& extra = "") const {
    return config::parseJobConfig(
        "model: {name: gpt-tiny, block_size: 16, vocab_size: 50000}\n"
        "data: {name: tokens, path: '" +
            (dir_.path() / "train/shard_*.bin").string() + "'" + extra +
            "}\ntrain: {global_batch_size: 8, steps: 4}",
        {}, "test");
  }

  TempDir dir_;
};

TEST_F(TokenCorpusTest, ListsTheShardsAndReadsWindowsInManifestOrderForEvaluation) {
  const TrainEvalSplit split = loadTokenCorpus(config());
  ASSERT_TRUE(split.corpus);
  EXPECT_EQ(split.corpus->manifest().shards.size(), 3u);
  // (tokens - 1) / T windows per shard: 62 + 20 + 128.
  EXPECT_EQ(split.corpus->windows(), 210u);
  EXPECT_EQ(trainSamples(split), 210);
  EXPECT_EQ(split.train.size(), 1);  // the first window: the model's input shape only
  EXPECT_EQ(split.train.num_classes, 50000);
  // No validation_path: the first windows of the training shards, in order.
  ASSERT_EQ(split.eval.size(), 210);
  EXPECT_FALSE(split.validation_corpus);
  for (int64_t i : {0, 61, 62, 81, 82, 209}) {
    const WindowRef w = split.corpus->stream().windows().at(uint64_t(i));
    for (int64_t t = 0; t < 16; ++t) {
      ASSERT_EQ(split.eval.features[i][t].item<int64_t>(), tokenAt(w.shard, w.token_offset + t));
      ASSERT_EQ(split.eval.labels[i][t].item<int64_t>(), tokenAt(w.shard, w.token_offset + t + 1));
    }
  }
}

TEST_F(TokenCorpusTest, ValidationShardsAreWhatIsEvaluated) {
  const TrainEvalSplit split =
      loadTokenCorpus(config(", validation_path: '" + (dir_.path() / "val").string() + "'"));
  ASSERT_TRUE(split.validation_corpus);
  ASSERT_EQ(split.eval.size(), 12);  // 199 / 16
  EXPECT_EQ(split.eval.features[0][0].item<int64_t>(), tokenAt(9, 0));
  EXPECT_EQ(split.eval.labels[11][15].item<int64_t>(), tokenAt(9, 11 * 16 + 16));
}

TEST_F(TokenCorpusTest, LlmcShardsWithoutAVocabularyAskForModelVocabSize) {
  const config::JobConfig c = config::parseJobConfig(
      "model: {name: gpt-tiny, block_size: 16}\ndata: {name: tokens, path: '" +
          (dir_.path() / "train").string() + "'}",
      {}, "test");
  try {
    loadTokenCorpus(c);
    FAIL() << "llm.c shards declare no vocabulary";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("declare no vocabulary; set model.vocab_size"));
  }
}

TEST_F(TokenCorpusTest, DigestIsTheManifestsAndChangesWithAShardNotWithThePathsSpelling) {
  const config::JobConfig glob = config();
  const DataDigest a = digestTokenCorpus(glob, loadTokenCorpus(glob));
  ASSERT_EQ(a.files.size(), 1u);
  EXPECT_EQ(a.files[0].role, "train");
  EXPECT_EQ(a.files[0].sha256, manifestDigest(loadTokenCorpus(glob).corpus->manifest()));
  config::JobConfig folder = glob;
  folder.mutable_data()->set_path((dir_.path() / "train/").string());
  EXPECT_EQ(digestTokenCorpus(folder, loadTokenCorpus(folder)).sha256, a.sha256);
  writeShard(dir_.path() / "train/shard_1.bin", 1, 334);  // one token more: another shard
  EXPECT_NE(digestTokenCorpus(glob, loadTokenCorpus(glob)).sha256, a.sha256);
}

TEST_F(TokenCorpusTest, PrefetcherHandsEachStepThePlansWindowsAndRestartsWhereAsked) {
  const TrainEvalSplit split = loadTokenCorpus(config());
  const TokenBatchReader& reader = split.corpus->reader();
  const BatchPlan plan(12, 2, 3, 1);  // micro-batches of 6, rank 1 of 3 takes 2 samples each
  BatchPrefetcher prefetcher(reader, plan, 2, /*pinned=*/false);
  auto expect_step = [&](const BatchPlan& p, uint64_t consumed) {
    const std::vector<TokenMicroBatch> step = prefetcher.take(consumed);
    ASSERT_EQ(int64_t(step.size()), p.globalBatch() / p.microBatch());
    for (int64_t m = 0; m < int64_t(step.size()); ++m) {
      const BatchPlan::Range r = p.positions(consumed, m);
      std::vector<int64_t> in(r.count * 16), tgt(r.count * 16);
      reader.read(r.begin, r.count, in.data(), tgt.data());
      ASSERT_EQ(step[size_t(m)].inputs.sizes(), (std::vector<int64_t>{int64_t(r.count), 16}));
      EXPECT_TRUE(torch::equal(step[size_t(m)].inputs, torch::tensor(in).view({-1, 16})));
      EXPECT_TRUE(torch::equal(step[size_t(m)].targets, torch::tensor(tgt).view({-1, 16})));
    }
  };
  for (uint64_t c = 0; c < 12 * 30; c += 12) expect_step(plan, c);  // wraps the 210-window epoch
  expect_step(plan, 12 * 3);                                        // a resume: back to step 3
  const BatchPlan regrouped(12, 1, 2, 0);  // elastic recovery: 2 ranks, no accumulation
  prefetcher.replan(regrouped);
  expect_step(regrouped, 12 * 4);
  expect_step(regrouped, 12 * 5);
}

TEST_F(TokenCorpusTest, PrefetcherRethrowsAReadErrorNamingTheShardThenReadsAgain) {
  // Evaluation reads the validation shards: no training shard is opened (mapped) before.
  const TrainEvalSplit split =
      loadTokenCorpus(config(", validation_path: '" + (dir_.path() / "val").string() + "'"));
  BatchPrefetcher prefetcher(split.corpus->reader(), BatchPlan(210, 1, 1, 0), 1, false);
  std::filesystem::remove(dir_.path() / "train/shard_2.bin");  // gone since it was listed
  try {
    prefetcher.take(0);  // a whole epoch: every shard
    FAIL() << "a shard deleted after listing cannot be read";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("shard_2.bin"));
  }
  writeShard(dir_.path() / "train/shard_2.bin", 2, 2049);  // back, but rewritten (another mtime)
  EXPECT_THROW(prefetcher.take(0), ConfigError);  // read again, and refused again: it changed
}

}  // namespace
}  // namespace trainrun
