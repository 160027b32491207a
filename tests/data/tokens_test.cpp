// In-memory token data: byte-level text, synthetic tokens, next-token windows and the
// loadDataset dispatch (token shards: token_shard_format_test.cpp and token_corpus_test.cpp).
#include "data/tokens.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "support/error_of.h"
#include "support/temp_dir.h"

namespace trainrun {
namespace {

using ::testing::HasSubstr;

// A path in this test program's scratch folder (removed at exit).
std::string tempPath(const std::string& name) {
  static const testing::TempDir scratch("tokens_test");
  return (scratch.path() / name).string();
}

void writeBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::vector<int64_t> toVector(const torch::Tensor& t) {
  return {t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel()};
}

TEST(TextBytes, EveryByteIsAToken) {
  const std::string path = tempPath("trainrun_text.txt");
  writeBytes(path, "h\xc3\xa9!");  // "hé!" in UTF-8: 3 characters, 4 bytes
  TokenStream s = readTextBytes(path);
  EXPECT_EQ(s.vocab_size, 256);
  EXPECT_EQ(toVector(s.tokens), (std::vector<int64_t>{'h', 0xc3, 0xa9, '!'}));
  writeBytes(path, "");
  EXPECT_THAT(testing::errorOf([&] { readTextBytes(path); }), HasSubstr("is empty"));
  std::filesystem::remove(path);
}

TEST(SyntheticTokens, DeterministicInRangeAndMostlyFollowingOneSuccessor) {
  TokenStream a = makeSyntheticTokens(20000, 64, 7);
  EXPECT_TRUE(torch::equal(a.tokens, makeSyntheticTokens(20000, 64, 7).tokens));
  EXPECT_FALSE(torch::equal(a.tokens, makeSyntheticTokens(20000, 64, 8).tokens));
  EXPECT_GE(a.tokens.min().item<int64_t>(), 0);
  EXPECT_LT(a.tokens.max().item<int64_t>(), 64);
  // Learnable: the most frequent successor of each token follows it about 90% of the time.
  torch::Tensor counts = torch::zeros({64, 64}, torch::kLong);
  auto t = a.tokens.accessor<int64_t, 1>();
  for (int64_t i = 0; i + 1 < 20000; ++i) counts[t[i]][t[i + 1]] += 1;
  const double top = counts.amax(1).sum().item<double>() / 19999.0;
  EXPECT_GT(top, 0.85);
  EXPECT_LT(top, 0.95);
}

TEST(TokenWindows, NextTokenTargetsWithStrideBlockSize) {
  TokenStream s{torch::arange(11, torch::kLong), 20};
  Dataset d = tokenWindows(s, 4);  // 11 tokens -> (11 - 1) / 4 = 2 windows
  EXPECT_EQ(d.num_classes, 20);
  EXPECT_EQ(d.features.sizes(), (std::vector<int64_t>{2, 4}));
  // int32 on the host: 8 bytes per token for inputs and targets together.
  EXPECT_EQ(d.features.scalar_type(), torch::kInt);
  EXPECT_EQ(d.labels.scalar_type(), torch::kInt);
  EXPECT_EQ(toVector(d.features.flatten().to(torch::kLong)),
            (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(toVector(d.labels.flatten().to(torch::kLong)),
            (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_THAT(testing::errorOf([&] { tokenWindows(s, 6); }), HasSubstr("fewer than the 13"));
}

TEST(LoadDataset, DispatchesTokenDataWindowedByTheModelsBlockSize) {
  config::JobConfig c;
  c.mutable_model()->set_name("gpt-tiny");
  c.mutable_data()->set_name("synthetic_tokens");
  c.mutable_data()->set_synthetic_samples(100);
  c.mutable_data()->set_synthetic_vocab(32);
  TrainEvalSplit split = loadDataset(c);
  EXPECT_EQ(split.train.size() + split.eval.size(), 100);
  EXPECT_EQ(split.train.features.sizes(), (std::vector<int64_t>{80, 64}));
  EXPECT_EQ(split.train.labels.sizes(), (std::vector<int64_t>{80, 64}));
  EXPECT_EQ(split.train.num_classes, 32);

  const std::string text = tempPath("trainrun_text_ds.txt");
  writeBytes(text, std::string(1000, 'a'));
  c.mutable_data()->set_name("text");
  c.mutable_data()->set_path(text);
  c.mutable_model()->set_block_size(8);
  split = loadDataset(c);
  EXPECT_EQ(split.train.size() + split.eval.size(), 999 / 8);
  EXPECT_EQ(split.train.num_classes, 256);
  std::filesystem::remove(text);
}

}  // namespace
}  // namespace trainrun
