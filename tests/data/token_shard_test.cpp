// TokenShard: mapped reads against the tokens written, widening, vocabulary checks, bad files.
#include "data/token_shard.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "core/error.h"
#include "data/shard_manifest.h"
#include "support/temp_dir.h"

namespace trainrun {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

std::vector<uint32_t> randomTokens(size_t n, uint32_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint32_t> t(n);
  for (auto& v : t) v = uint32_t(rng() % vocab);
  return t;
}

std::string writeFile(const TempDir& dir, const std::string& name, const std::string& bytes) {
  const std::string path = (dir.path() / name).string();
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  return path;
}

struct Case {
  ShardFormat format;
  TokenDtype dtype;
  uint32_t vocab;
};

TEST(MappedTokenShard, ReadsEveryWindowAsWrittenInEveryFormat) {
  TempDir dir;
  for (const Case& c : {Case{ShardFormat::kLlmc, TokenDtype::kUint16, 50257},
                        Case{ShardFormat::kLlmc, TokenDtype::kUint32, 128256},
                        Case{ShardFormat::kTrainrun, TokenDtype::kUint16, 65536},
                        Case{ShardFormat::kTrainrun, TokenDtype::kUint32, 200000},
                        Case{ShardFormat::kHeaderless, TokenDtype::kUint32, 100000}}) {
    SCOPED_TRACE(std::string(shardFormatName(c.format)) + " " + tokenDtypeName(c.dtype));
    const std::vector<uint32_t> tokens = randomTokens(10007, c.vocab, c.vocab);
    const uint64_t header_vocab = c.format == ShardFormat::kTrainrun ? c.vocab : 0;
    const std::string path =
        writeFile(dir, "s.bin", encodeShard(c.format, c.dtype, tokens, header_vocab));
    const ShardFormatSpec spec{c.format == ShardFormat::kHeaderless, c.dtype};
    const TokenShard shard(path, spec, c.vocab);
    ASSERT_EQ(shard.tokenCount(), tokens.size());
    EXPECT_EQ(shard.vocabBound(), c.vocab);
    // Windows of 1025 at stride 1024 (how training reads), and odd ranges at odd offsets.
    std::vector<int32_t> out32(1025);
    for (uint64_t off = 0; off + 1025 <= tokens.size(); off += 1024) {
      shard.read(off, 1025, out32.data());
      for (size_t i = 0; i < 1025; ++i) ASSERT_EQ(uint32_t(out32[i]), tokens[off + i]) << off + i;
    }
    std::vector<int64_t> out64(333);
    shard.read(tokens.size() - 333, 333, out64.data());
    for (size_t i = 0; i < 333; ++i) ASSERT_EQ(uint64_t(out64[i]), tokens[tokens.size() - 333 + i]);
    shard.read(7, 1, out64.data());
    EXPECT_EQ(uint64_t(out64[0]), tokens[7]);
    shard.prefetch(0, tokens.size());  // a hint: must not fail or change what is read
    shard.read(0, 0, out64.data());
    EXPECT_THROW(shard.read(tokens.size() - 1, 2, out64.data()), std::out_of_range);
  }
}

TEST(MappedTokenShard, NamesTheFileAndTokenOffsetOfAnIdOutsideTheVocabulary) {
  TempDir dir;
  std::vector<uint32_t> tokens(6000, 3);
  tokens[4321] = 50257;
  const std::string path =
      writeFile(dir, "v.bin", encodeShard(ShardFormat::kLlmc, TokenDtype::kUint16, tokens));
  const TokenShard shard(path, {}, 50257);
  std::vector<int32_t> out(1025);
  shard.read(0, 1025, out.data());  // blocks without the bad id read fine
  try {
    shard.read(4096, 1025, out.data());
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "token shard '" + path +
                                         "': token id 50257 at token offset 4321 is >= the "
                                         "vocabulary size 50257 (check model.vocab_size or the "
                                         "tokenizer that wrote the shard)");
  }
  // Without a bound from the model, only the header's (none for llm.c) applies.
  TokenShard unbounded(path, {}, 0);
  unbounded.read(4096, 1025, out.data());
  EXPECT_EQ(out[4321 - 4096], 50257);
}

TEST(MappedTokenShard, TheSmallerOfTheHeadersAndTheModelsVocabularyBinds) {
  TempDir dir;
  const std::string path = writeFile(
      dir, "t.bin", encodeShard(ShardFormat::kTrainrun, TokenDtype::kUint16, {1, 99}, 100));
  EXPECT_EQ(TokenShard(path, {}, 0).vocabBound(), 100u);
  EXPECT_EQ(TokenShard(path, {}, 1000).vocabBound(), 100u);
  const TokenShard small(path, {}, 50);
  int64_t out[2];
  EXPECT_THROW(small.read(0, 2, out), ConfigError);
}

TEST(MappedTokenShard, RefusesMissingAndMalformedFiles) {
  TempDir dir;
  try {
    TokenShard((dir.path() / "missing.bin").string(), {});
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("missing.bin' cannot be opened"));
  }
  const std::string empty = writeFile(dir, "empty.bin", "");
  EXPECT_THROW(TokenShard(empty, {}), ConfigError);
  std::string trunc = encodeShard(ShardFormat::kLlmc, TokenDtype::kUint16, {1, 2, 3});
  const std::string path = writeFile(dir, "trunc.bin", trunc.substr(0, trunc.size() - 1));
  try {
    TokenShard(path, {});
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("token shard '" + path + "': truncated"));
  }
}

// scripts/tokenize_shards.py's shards (ctest's tokenize_shards_fixture writes them from the
// script's own text, byte-level): the C++ side reads back exactly the bytes tokenized.
TEST(TokenizedShards, ReadBackTheTextTheScriptTokenized) {
  const std::string dir = TRAINRUN_TOKENIZED_DIR;
  if (!std::filesystem::exists(dir + "/fixture_val_000000.bin"))
    GTEST_SKIP() << "run through ctest: its tokenize_shards_fixture writes " << dir;
  std::ifstream in(TRAINRUN_TOKENIZED_TEXT, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string read_back;
  for (const std::string& data_path : {dir + "/fixture_val_", dir + "/fixture_train_*.bin"}) {
    auto source = openLocalShardSource(data_path, {false, TokenDtype::kUint16}, 256);
    const ShardManifest m = buildManifest(*source);
    for (const ShardInfo& info : m.shards) {
      EXPECT_EQ(info.header.format, ShardFormat::kLlmc);
      auto shard = source->open(info);
      std::vector<int64_t> tokens(shard->tokenCount());
      shard->read(0, tokens.size(), tokens.data());
      for (int64_t t : tokens) read_back.push_back(static_cast<char>(t));
    }
  }
  ASSERT_GT(text.size(), 4096u + 100);  // a validation shard and at least two training shards
  EXPECT_EQ(read_back, text);
}

}  // namespace
}  // namespace trainrun
