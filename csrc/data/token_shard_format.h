// Token shard headers (llm.c .bin, trainrun's TRTOKENS, headerless), from header and size alone.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trainrun {

// How one token id is stored: little-endian unsigned integers.
enum class TokenDtype { kUint16, kUint32 };

int tokenBytes(TokenDtype dtype);              // 2 or 4
const char* tokenDtypeName(TokenDtype dtype);  // "uint16", "uint32"
// "uint16" or "uint32" (data.token_dtype); throws ConfigError naming `setting` otherwise.
TokenDtype parseTokenDtype(const std::string& name, const std::string& setting);

// The shard formats read. llm.c's `.bin` (dev/data/data_common.py, llmc/dataloader.h): 256
// little-endian int32 (1024 bytes) of header, header[0] the magic, header[1] the version,
// header[2] the token count, then the tokens: magic 20240520 version 1 holds uint16 ids (GPT-2),
// magic 20240801 version 7 holds uint32 ids (Llama 3). trainrun's TRTOKENS, little-endian: a
// 32-byte header (the ASCII magic "TRTOKENS", uint32 version at byte 8, uint32 vocab_size at
// byte 12, uint64 token count at byte 16, 8 reserved zero bytes), then the ids: version 1 holds
// uint16 ids, version 2 uint32 ids. A headerless file holds tokens only, in the dtype the user
// declares.
enum class ShardFormat { kLlmc, kTrainrun, kHeaderless };
const char* shardFormatName(ShardFormat format);  // "llm.c", "TRTOKENS", "headerless"

inline constexpr int32_t kLlmcMagicUint16 = 20240520;
inline constexpr int32_t kLlmcVersionUint16 = 1;
inline constexpr int32_t kLlmcMagicUint32 = 20240801;
inline constexpr int32_t kLlmcVersionUint32 = 7;
inline constexpr uint64_t kLlmcHeaderBytes = 256 * 4;
inline constexpr uint32_t kTrTokensVersionUint32 = 2;
// The bytes of a shard's start that parseShardHeader needs at most (llm.c's header).
inline constexpr uint64_t kShardHeaderProbeBytes = kLlmcHeaderBytes;

// What the user declares about the shards (data.token_format, data.token_dtype).
struct ShardFormatSpec {
  bool headerless = false;  // every byte is a token; requires `dtype`
  // Required for headerless files; for files with a header, the dtype the header must declare
  // (uint32 tokens where uint16 are declared is an error), or unset to take the header's.
  std::optional<TokenDtype> dtype;
};
// The spec data.token_format ("auto" or "headerless") and data.token_dtype ("auto", "uint16"
// or "uint32") declare; throws parseTokenDtype's ConfigError.
ShardFormatSpec shardFormatSpec(const std::string& token_format, const std::string& token_dtype);

// A shard's header, summarised: enough to find any token without reading the others.
struct ShardHeader {
  ShardFormat format = ShardFormat::kHeaderless;
  int64_t version = 0;  // the header's format version; 0 for headerless files
  TokenDtype dtype = TokenDtype::kUint16;
  uint64_t token_count = 0;
  uint64_t data_offset = 0;  // byte offset of token 0
  uint64_t vocab_size = 0;   // declared by a TRTOKENS header; 0 where the format declares none

  uint64_t tokenOffsetBytes(uint64_t token) const {
    return data_offset + token * uint64_t(tokenBytes(dtype));
  }
};

// Parses the header of the shard `name` (for messages) from `head`, its first
// min(file_size, kShardHeaderProbeBytes) bytes (more are ignored), and its size in bytes. Never
// needs the tokens. Throws ConfigError, one line naming the shard and the byte offset: an empty
// file or header with no tokens, a file shorter than its header, a bad magic or version, a size
// that disagrees with the header's token count (truncated or longer; a uint16 header on uint32
// tokens says so), a dtype other than the declared one, a headerless file without a dtype or
// with a partial last token.
ShardHeader parseShardHeader(const std::string& name, std::string_view head, uint64_t file_size,
                             const ShardFormatSpec& spec);

// The header bytes that parseShardHeader reads back as `header` (empty for a headerless file):
// what a shard index (data/shard_index.h) stores a header as, checked again on every use.
std::string encodeShardHeader(const ShardHeader& header);

// The bytes of a shard holding `tokens` (each must fit `dtype`; throws ConfigError otherwise):
// llm.c's header (magic 20240520 v1 for uint16, 20240801 v7 for uint32) or TRTOKENS (v1 uint16,
// v2 uint32; vocab_size in its header) or none. For tests, benchmarks and tools; training reads.
std::string encodeShard(ShardFormat format, TokenDtype dtype, const std::vector<uint32_t>& tokens,
                        uint64_t vocab_size = 0);

}  // namespace trainrun
