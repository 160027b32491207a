// Shard headers: llm.c, TRTOKENS and Megatron layouts byte by byte, uint16/uint32, headerless,
// every error.
#include "data/token_shard_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "core/error.h"
#include "support/error_of.h"

namespace trainrun {
namespace {

using ::testing::HasSubstr;

int32_t int32At(const std::string& bytes, size_t offset) {
  int32_t v;
  std::memcpy(&v, bytes.data() + offset, 4);
  return v;
}

void setInt32(std::string& bytes, size_t offset, int32_t v) {
  std::memcpy(bytes.data() + offset, &v, 4);
}

ShardHeader parse(const std::string& bytes, const ShardFormatSpec& spec = {}) {
  return parseShardHeader("s.bin", bytes, bytes.size(), spec);
}

std::string parseError(const std::string& bytes, const ShardFormatSpec& spec = {},
                       uint64_t size = ~0ULL) {
  try {
    parseShardHeader("s.bin", bytes, size == ~0ULL ? bytes.size() : size, spec);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no ConfigError)";
}

TEST(TokenShardFormat, LlmcUint16HasLlmcsLayoutAndRoundTrips) {
  const std::vector<uint32_t> tokens{0, 1, 50256, 258, 7};
  const std::string bytes = encodeShard(ShardFormat::kLlmc, TokenDtype::kUint16, tokens);
  ASSERT_EQ(bytes.size(), 1024u + 2 * tokens.size());
  EXPECT_EQ(int32At(bytes, 0), 20240520);  // llm.c's data_common.py "gpt-2"
  EXPECT_EQ(int32At(bytes, 4), 1);
  EXPECT_EQ(int32At(bytes, 8), 5);
  for (size_t i = 12; i < 1024; i += 4) ASSERT_EQ(int32At(bytes, i), 0) << i;
  EXPECT_EQ(uint8_t(bytes[1024 + 2 * 3]), 258 & 0xff);
  EXPECT_EQ(uint8_t(bytes[1024 + 2 * 3 + 1]), 1);
  const ShardHeader h = parse(bytes);
  EXPECT_EQ(h.format, ShardFormat::kLlmc);
  EXPECT_EQ(h.version, 1);
  EXPECT_EQ(h.dtype, TokenDtype::kUint16);
  EXPECT_EQ(h.token_count, 5u);
  EXPECT_EQ(h.data_offset, 1024u);
  EXPECT_EQ(h.vocab_size, 0u);
  EXPECT_EQ(h.tokenOffsetBytes(3), 1030u);
}

TEST(TokenShardFormat, LlmcUint32IsLlama3sMagicAndVersion) {
  const std::vector<uint32_t> tokens{128000, 1, 70000};
  const std::string bytes = encodeShard(ShardFormat::kLlmc, TokenDtype::kUint32, tokens);
  ASSERT_EQ(bytes.size(), 1024u + 4 * tokens.size());
  EXPECT_EQ(int32At(bytes, 0), 20240801);  // llm.c's data_common.py "llama-3"
  EXPECT_EQ(int32At(bytes, 4), 7);
  EXPECT_EQ(int32At(bytes, 1024), 128000);
  const ShardHeader h = parse(bytes);
  EXPECT_EQ(h.dtype, TokenDtype::kUint32);
  EXPECT_EQ(h.version, 7);
  EXPECT_EQ(h.token_count, 3u);
  EXPECT_EQ(h.tokenOffsetBytes(2), 1032u);
}

TEST(TokenShardFormat, TrTokensV1StaysReadableAndV2HoldsUint32) {
  const std::string v1 = encodeShard(ShardFormat::kTrainrun, TokenDtype::kUint16, {1, 2}, 50257);
  EXPECT_EQ(v1.substr(0, 8), "TRTOKENS");
  EXPECT_EQ(v1.size(), 32u + 4);
  ShardHeader h = parse(v1);
  EXPECT_EQ(h.format, ShardFormat::kTrainrun);
  EXPECT_EQ(h.version, 1);
  EXPECT_EQ(h.vocab_size, 50257u);
  EXPECT_EQ(h.data_offset, 32u);
  const std::string v2 =
      encodeShard(ShardFormat::kTrainrun, TokenDtype::kUint32, {1, 128255}, 128256);
  h = parse(v2);
  EXPECT_EQ(h.version, 2);
  EXPECT_EQ(h.dtype, TokenDtype::kUint32);
  EXPECT_EQ(h.token_count, 2u);
  EXPECT_EQ(h.vocab_size, 128256u);
}

TEST(TokenShardFormat, HeaderlessNeedsADeclaredDtype) {
  const std::string bytes = encodeShard(ShardFormat::kHeaderless, TokenDtype::kUint32, {5, 6, 7});
  EXPECT_EQ(bytes.size(), 12u);
  const ShardHeader h = parse(bytes, {true, TokenDtype::kUint32});
  EXPECT_EQ(h.format, ShardFormat::kHeaderless);
  EXPECT_EQ(h.token_count, 3u);
  EXPECT_EQ(h.data_offset, 0u);
  EXPECT_EQ(parse(bytes, {true, TokenDtype::kUint16}).token_count, 6u);
  EXPECT_THAT(parseError(bytes, {true, std::nullopt}), HasSubstr("needs data.token_dtype"));
  // Without the headerless setting, a file without a header is refused, never guessed at.
  EXPECT_THAT(parseError(bytes), HasSubstr("bad magic at byte 0"));
}

TEST(TokenShardFormat, NamesTheFileAndOffsetOfEveryBadHeader) {
  std::string good = encodeShard(ShardFormat::kLlmc, TokenDtype::kUint16, {1, 2, 3, 4});
  // Truncated: the header says 4 tokens, 3 follow.
  EXPECT_EQ(parseError(good.substr(0, good.size() - 2)),
            "token shard 's.bin': truncated: the header declares 4 uint16 tokens from byte 1024, "
            "which end at byte 1032, but the file has 1030 bytes (the file is "
            "truncated: copy or upload it again)");
  EXPECT_THAT(parseError(good + "xy"), HasSubstr("size disagrees with the header"));
  EXPECT_THAT(parseError(good + "xy"), HasSubstr("end at byte 1032, but the file has 1034 bytes"));
  EXPECT_THAT(parseError(good.substr(0, 100)), HasSubstr("truncated at byte 100: shorter than "
                                                         "llm.c's 1024-byte header"));
  std::string bad = good;
  setInt32(bad, 0, 20240522);  // llm.c's eval files
  EXPECT_THAT(parseError(bad), HasSubstr("token shard 's.bin': bad magic at byte 0"));
  bad = good;
  setInt32(bad, 4, 2);
  EXPECT_THAT(parseError(bad), HasSubstr("bad version 2 at byte 4 for llm.c magic 20240520"));
  bad = good;
  setInt32(bad, 8, 0);
  EXPECT_THAT(parseError(bad.substr(0, 1024)),
              HasSubstr("empty shard: the header declares 0 tokens at byte 8"));
  EXPECT_THAT(parseError(""), HasSubstr("empty shard: 0 bytes"));
  setInt32(bad, 8, -5);
  EXPECT_THAT(parseError(bad), HasSubstr("bad token count -5 at byte 8"));
}

TEST(TokenShardFormat, SaysWhenUint32TokensSitUnderAUint16Header) {
  // A uint16 header over tokens written as uint32: the size is 1024 + 4n, not 1024 + 2n.
  std::string bytes = encodeShard(ShardFormat::kLlmc, TokenDtype::kUint32, {1, 2, 3});
  setInt32(bytes, 0, 20240520);
  setInt32(bytes, 4, 1);
  EXPECT_THAT(parseError(bytes), HasSubstr("fits uint32 tokens where the header declares uint16"));
  // And a declared dtype the header disagrees with.
  const std::string u32 = encodeShard(ShardFormat::kLlmc, TokenDtype::kUint32, {1, 2, 3});
  EXPECT_EQ(parseError(u32, {false, TokenDtype::kUint16}),
            "token shard 's.bin': uint32 tokens where uint16 are declared: the llm.c header at "
            "byte 0 says uint32 (fix data.token_dtype or the shard)");
  EXPECT_EQ(parse(u32, {false, TokenDtype::kUint32}).token_count, 3u);
}

TEST(TokenShardFormat, TrTokensErrors) {
  std::string good = encodeShard(ShardFormat::kTrainrun, TokenDtype::kUint16, {1, 2}, 10);
  std::string bad = good;
  bad[8] = 3;
  EXPECT_THAT(parseError(bad), HasSubstr("bad version 3 at byte 8 of the TRTOKENS header"));
  bad = good;
  std::memset(bad.data() + 12, 0, 4);
  EXPECT_THAT(parseError(bad), HasSubstr("bad vocab_size 0 at byte 12"));
  EXPECT_THAT(parseError(good.substr(0, 20)), HasSubstr("truncated at byte 20"));
  EXPECT_THAT(parseError(good.substr(0, 35)), HasSubstr("truncated: the header declares 2"));
}

TEST(TokenShardFormat, HeaderlessErrors) {
  EXPECT_THAT(parseError("abc", {true, TokenDtype::kUint16}),
              HasSubstr("truncated at byte 3: not a whole number of uint16 tokens (a partial "
                        "token at byte 2"));
  EXPECT_THAT(parseError("", {true, TokenDtype::kUint32}), HasSubstr("empty shard"));
  const std::string llmc = encodeShard(ShardFormat::kLlmc, TokenDtype::kUint16, {1, 2});
  EXPECT_THAT(parseError(llmc, {true, TokenDtype::kUint16}),
              HasSubstr("starts with a shard header at byte 0"));
}

TEST(TokenShardFormat, ReadsTheSizeNotTheTokens) {
  // Only the first 1024 bytes and the size are given: a 2^30-token shard parses.
  std::string head = encodeShard(ShardFormat::kLlmc, TokenDtype::kUint16, {});
  setInt32(head, 8, 1 << 30);
  const ShardHeader h = parseShardHeader("big.bin", head, 1024 + (uint64_t(2) << 30), {});
  EXPECT_EQ(h.token_count, uint64_t(1) << 30);
}

TEST(TokenShardFormat, EncodeRefusesTokensThatDoNotFit) {
  EXPECT_THROW(encodeShard(ShardFormat::kLlmc, TokenDtype::kUint16, {70000}), ConfigError);
  EXPECT_THROW(encodeShard(ShardFormat::kTrainrun, TokenDtype::kUint16, {10}, 10), ConfigError);
  EXPECT_EQ(parseTokenDtype("uint32", "data.token_dtype"), TokenDtype::kUint32);
  EXPECT_THROW(parseTokenDtype("int64", "data.token_dtype"), ConfigError);
}

// What a shard index stores: each header's bytes, which parse back to the same header.
TEST(TokenShardFormat, EncodedHeadersParseBackToThemselves) {
  const std::vector<uint32_t> tokens{3, 1, 4, 1, 5};
  for (ShardFormat format : {ShardFormat::kLlmc, ShardFormat::kTrainrun})
    for (TokenDtype dtype : {TokenDtype::kUint16, TokenDtype::kUint32}) {
      const std::string shard = encodeShard(format, dtype, tokens, 1000);
      const ShardHeader h = parse(shard);
      const std::string head = encodeShardHeader(h);
      EXPECT_EQ(head, shard.substr(0, head.size()));
      const ShardHeader again = parseShardHeader("s.bin", head, shard.size(), {});
      EXPECT_EQ(again.format, h.format);
      EXPECT_EQ(again.version, h.version);
      EXPECT_EQ(again.dtype, h.dtype);
      EXPECT_EQ(again.token_count, h.token_count);
      EXPECT_EQ(again.data_offset, h.data_offset);
      EXPECT_EQ(again.vocab_size, h.vocab_size);
    }
  ShardHeader headerless;
  EXPECT_EQ(encodeShardHeader(headerless), "");
}

// Megatron's pair: the header from the .idx's head and its last sequence, the .bin's size against
// where that sequence ends.
ShardHeader megatron(const std::pair<std::string, std::string>& pair,
                     const ShardFormatSpec& spec = {}, uint64_t bin_size = ~0ULL) {
  const std::string& idx = pair.second;
  return readMegatronHeader(
      "m.bin", bin_size == ~0ULL ? pair.first.size() : bin_size, "m.idx", idx.size(),
      [&](uint64_t offset, uint64_t length) { return idx.substr(offset, length); }, spec);
}

std::string megatronError(const std::pair<std::string, std::string>& pair,
                          const ShardFormatSpec& spec = {}, uint64_t bin_size = ~0ULL) {
  try {
    megatron(pair, spec, bin_size);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no ConfigError)";
}

TEST(TokenShardFormat, MegatronPairHasItsLayoutAndItsHeaderComesFromTheIdx) {
  const auto pair = encodeMegatron(TokenDtype::kUint16, {{1, 2, 3}, {50256, 7}});
  ASSERT_EQ(pair.first.size(), 10u);  // the .bin: tokens only
  const std::string& idx = pair.second;
  ASSERT_EQ(idx.size(), 34u + 4 * 2 + 8 * 2 + 8 * 3);
  EXPECT_EQ(idx.substr(0, 9), std::string("MMIDIDX\0\0", 9));
  EXPECT_EQ(uint8_t(idx[17]), 8);      // Megatron's DType.uint16
  EXPECT_EQ(int32At(idx, 34 + 4), 2);  // the second sequence's length
  const MegatronIdx head = parseMegatronIdx("m.idx", idx, idx.size());
  EXPECT_EQ(head.sequences, 2u);
  EXPECT_EQ(head.documents, 3u);
  const ShardHeader h = megatron(pair);
  EXPECT_EQ(h.format, ShardFormat::kMegatron);
  EXPECT_EQ(h.dtype, TokenDtype::kUint16);
  EXPECT_EQ(h.token_count, 5u);
  EXPECT_EQ(h.data_offset, 0u);
  EXPECT_EQ(recheckShardHeader("m.bin", h, 10, {}).token_count, 5u);
  EXPECT_THAT(testing::errorOf([&] { recheckShardHeader("m.bin", h, 12, {}); }),
              HasSubstr("m.bin': size disagrees with its .idx: 5 uint16 tokens"));

  const auto wide = encodeMegatron(TokenDtype::kUint32, {{128255, 0}});
  EXPECT_EQ(uint8_t(wide.second[17]), 4);  // DType.int32, read as uint32
  EXPECT_EQ(megatron(wide).dtype, TokenDtype::kUint32);
  EXPECT_EQ(megatronIdxKey("a/b_000.bin"), "a/b_000.idx");
  EXPECT_EQ(megatronIdxKey("a/b_000.idx"), "");
}

TEST(TokenShardFormat, NamesTheFileAndOffsetOfEveryBadMegatronPair) {
  const auto good = encodeMegatron(TokenDtype::kUint16, {{1, 2, 3}, {4, 5}});
  auto with = [&](size_t at, char byte) {
    auto p = good;
    p.second[at] = byte;
    return p;
  };
  EXPECT_THAT(megatronError(with(0, 'X')), HasSubstr("'m.idx': bad magic at byte 0"));
  EXPECT_THAT(megatronError(with(9, 2)), HasSubstr("'m.idx': bad version 2 at byte 9"));
  EXPECT_THAT(megatronError(with(17, 7)),
              HasSubstr("'m.idx': dtype code 7 at byte 17 of the Megatron .idx"));
  auto short_idx = good;
  short_idx.second.resize(good.second.size() - 8);
  EXPECT_THAT(megatronError(short_idx),
              HasSubstr("'m.idx': truncated: 2 sequences and 3 documents"));
  EXPECT_THAT(megatronError(good, {}, 8),
              HasSubstr("'m.bin': truncated: the .idx's last sequence ends at byte 10, but the "
                        "file has 8 bytes"));
  EXPECT_THAT(megatronError(good, {}, 12), HasSubstr("'m.bin': size disagrees with its .idx"));
  ShardFormatSpec uint32;
  uint32.dtype = TokenDtype::kUint32;
  EXPECT_THAT(megatronError(good, uint32),
              HasSubstr("uint16 tokens where uint32 are declared: the megatron header (its .idx)"));
  EXPECT_THAT(megatronError(encodeMegatron(TokenDtype::kUint16, {})),
              HasSubstr("'m.idx': empty shard: 0 sequences at byte 18"));
}

}  // namespace
}  // namespace trainrun
