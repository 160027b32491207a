// Token data: shard round trip and every malformed-shard error, byte-level text, synthetic
// tokens, next-token windows and the loadDataset dispatch.
#include "data/tokens.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "support/temp_dir.h"

namespace trainrun {
namespace {

using ::testing::HasSubstr;

// A path in this test program's scratch folder (removed at exit).
std::string tempPath(const std::string& name) {
  static const testing::TempDir scratch("tokens_test");
  return (scratch.path() / name).string();
}

std::string readBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void writeBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::string configError(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no ConfigError)";
}

std::vector<int64_t> toVector(const torch::Tensor& t) {
  return {t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel()};
}

TEST(TokenShard, RoundTripsAndHasTheDocumentedLayout) {
  const std::string path = tempPath("trainrun_tokens_ok.bin");
  const std::vector<int64_t> tokens{0, 1, 50256, 258, 7};
  writeTokenShard(path, tokens, 50257);
  const std::string bytes = readBytes(path);
  ASSERT_EQ(bytes.size(), 32u + 2 * tokens.size());
  EXPECT_EQ(bytes.substr(0, 8), "TRTOKENS");
  EXPECT_EQ(bytes[8], 1);                                                // version, little-endian
  EXPECT_EQ(static_cast<unsigned char>(bytes[12]), 50257 & 0xff);        // vocab_size
  EXPECT_EQ(bytes[16], 5);                                               // token count
  EXPECT_EQ(static_cast<unsigned char>(bytes[32 + 2 * 3]), 258 & 0xff);  // token 3, low byte
  EXPECT_EQ(bytes[32 + 2 * 3 + 1], 1);                                   // and high byte
  TokenStream s = readTokenShard(path);
  EXPECT_EQ(s.vocab_size, 50257);
  EXPECT_EQ(toVector(s.tokens), tokens);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::filesystem::remove(path);
}

TEST(TokenShard, WriterRejectsTokensOutsideTheVocabulary) {
  const std::string path = tempPath("trainrun_tokens_never.bin");
  EXPECT_THAT(configError([&] {
                writeTokenShard(path, {1, 10}, 10);
              }),
              HasSubstr("token 10 at position 1 is outside [0, 10)"));
  EXPECT_THAT(configError([&] { writeTokenShard(path, {1}, 70000); }), HasSubstr("70000"));
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(TokenShard, ReaderErrorsNameTheFileAndTheProblem) {
  const std::string good = tempPath("trainrun_tokens_good.bin");
  writeTokenShard(good, {1, 2, 3, 4}, 5);
  const std::string shard = readBytes(good);
  const std::string bad = tempPath("trainrun_tokens_bad.bin");

  EXPECT_THAT(configError([&] { readTokenShard(tempPath("trainrun_tokens_missing.bin")); }),
              HasSubstr("not found"));

  writeBytes(bad, "hello world, this is plain text and not a shard");
  EXPECT_THAT(configError([&] { readTokenShard(bad); }),
              HasSubstr("token shard '" + bad + "' does not start with the magic TRTOKENS"));

  writeBytes(bad, shard.substr(0, 20));
  EXPECT_THAT(configError([&] { readTokenShard(bad); }), HasSubstr("is truncated: 20 bytes"));

  writeBytes(bad, shard.substr(0, shard.size() - 1));
  EXPECT_THAT(configError([&] { readTokenShard(bad); }),
              HasSubstr("is truncated: the header declares 4 tokens but 7 bytes follow"));

  writeBytes(bad, shard + "xx");
  EXPECT_THAT(configError([&] { readTokenShard(bad); }), HasSubstr("longer than its header"));

  std::string version = shard;
  version[8] = 2;
  writeBytes(bad, version);
  EXPECT_THAT(configError([&] { readTokenShard(bad); }), HasSubstr("format version 2"));

  std::string big = shard;
  big[32 + 2 * 2] = 9;  // token 2 becomes 9 >= vocab_size 5
  writeBytes(bad, big);
  EXPECT_THAT(configError([&] { readTokenShard(bad); }),
              HasSubstr("token 9 at position 2 is >= the header's vocab_size 5"));

  std::filesystem::remove(good);
  std::filesystem::remove(bad);
}

TEST(TextBytes, EveryByteIsAToken) {
  const std::string path = tempPath("trainrun_text.txt");
  writeBytes(path, "h\xc3\xa9!");  // "hé!" in UTF-8: 3 characters, 4 bytes
  TokenStream s = readTextBytes(path);
  EXPECT_EQ(s.vocab_size, 256);
  EXPECT_EQ(toVector(s.tokens), (std::vector<int64_t>{'h', 0xc3, 0xa9, '!'}));
  writeBytes(path, "");
  EXPECT_THAT(configError([&] { readTextBytes(path); }), HasSubstr("is empty"));
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
  EXPECT_THAT(configError([&] { tokenWindows(s, 6); }), HasSubstr("fewer than the 13"));
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
