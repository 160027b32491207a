// Token shard headers (llm.c .bin, trainrun's TRTOKENS, headerless), from header and size alone.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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
// Megatron-LM's indexed dataset (megatron/core/datasets/indexed_dataset.py) is a pair of files:
// `<stem>.bin`, the tokens with no header, and `<stem>.idx`, its header: the 9-byte magic
// "MMIDIDX\0\0", uint64 version 1, a uint8 dtype code (8: uint16; 4: int32, read as uint32),
// uint64 sequence count S, uint64 document count D, then int32 lengths[S], int64 byte
// pointers[S] into the .bin and int64 document indices[D] (and int8 modes[S] when multimodal).
// The shard is the .bin, keyed by its name; its .idx gives the header and is no shard itself.
enum class ShardFormat { kLlmc, kTrainrun, kHeaderless, kMegatron };
// "llm.c", "TRTOKENS", "headerless", "megatron"
const char* shardFormatName(ShardFormat format);

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

// A header its listing (or a shard index) already parsed, checked again against the file's size
// and `spec` without the file's bytes: what parseShardHeader would say of the same header.
ShardHeader recheckShardHeader(const std::string& name, const ShardHeader& header,
                               uint64_t file_size, const ShardFormatSpec& spec);

// Megatron's .idx head: what parseMegatronIdx needs of the .idx's first bytes.
inline constexpr uint64_t kMegatronIdxHeadBytes = 34;
// A Megatron .idx as its head declares it.
struct MegatronIdx {
  int64_t version = 1;
  TokenDtype dtype = TokenDtype::kUint16;
  uint64_t sequences = 0;
  uint64_t documents = 0;
  // Byte offsets in the .idx of the last sequence's length (int32) and pointer (int64): where
  // the .bin must end, read without the arrays before them.
  uint64_t lastLengthAt() const { return kMegatronIdxHeadBytes + 4 * (sequences - 1); }
  uint64_t lastPointerAt() const {
    return kMegatronIdxHeadBytes + 4 * sequences + 8 * (sequences - 1);
  }
};
// "<stem>.idx" for a key "<stem>.bin", else "": the file a .bin's Megatron header would be in.
std::string megatronIdxKey(const std::string& bin_key);
// "<stem>.bin" for a key "<stem>.idx", else "": the shard a Megatron .idx belongs to.
std::string megatronBinKey(const std::string& idx_key);
// Parses the .idx `idx_name` from `head`, its first min(idx_size, kMegatronIdxHeadBytes) bytes,
// and its size (which the arrays must fill exactly). Throws ConfigError naming the file and the
// byte offset: bad magic, version or dtype code, no sequence, a size the counts disagree with.
MegatronIdx parseMegatronIdx(const std::string& idx_name, std::string_view head, uint64_t idx_size);
// The header of the .bin `bin_name` of `bin_size` bytes, whose .idx is `idx` and whose last
// sequence holds `last_length` tokens from byte `last_pointer`: the .bin must end there (a
// truncated or longer .bin is named with both sizes). Throws ConfigError as parseShardHeader
// does (the declared dtype included; a headerless spec never pairs files).
ShardHeader megatronHeader(const std::string& bin_name, const MegatronIdx& idx, int64_t last_length,
                           int64_t last_pointer, uint64_t bin_size, const ShardFormatSpec& spec);

// Reads `length` bytes at `offset` of a Megatron .idx (a pread, a ranged GET).
using ReadIdx = std::function<std::string(uint64_t offset, uint64_t length)>;
// The header of the Megatron .bin `bin_name` from its .idx `idx_name`: three small reads (the
// head, the last sequence's length and its pointer), never the arrays. parseMegatronIdx's and
// megatronHeader's errors.
ShardHeader readMegatronHeader(const std::string& bin_name, uint64_t bin_size,
                               const std::string& idx_name, uint64_t idx_size,
                               const ReadIdx& read_idx, const ShardFormatSpec& spec);

// The bytes of a shard holding `tokens` (each must fit `dtype`; throws ConfigError otherwise):
// llm.c's header (magic 20240520 v1 for uint16, 20240801 v7 for uint32) or TRTOKENS (v1 uint16,
// v2 uint32; vocab_size in its header) or none. For tests, benchmarks and tools; training reads.
std::string encodeShard(ShardFormat format, TokenDtype dtype, const std::vector<uint32_t>& tokens,
                        uint64_t vocab_size = 0);
// A Megatron pair holding `documents`, one sequence each: {.bin bytes, .idx bytes}. For tests
// and tools.
std::pair<std::string, std::string> encodeMegatron(
    TokenDtype dtype, const std::vector<std::vector<uint32_t>>& documents);

}  // namespace trainrun
