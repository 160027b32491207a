// Token shard headers: format detection, validation against the file size, and encoding; Megatron's
// .idx head and its .bin's size check.
#include "data/token_shard_format.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/error.h"

namespace trainrun {
namespace {

inline constexpr char kTrTokensMagic[8] = {'T', 'R', 'T', 'O', 'K', 'E', 'N', 'S'};
inline constexpr uint64_t kTrTokensHeaderBytes = 32;
inline constexpr char kMegatronMagic[9] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', '\0', '\0'};
inline constexpr int kMegatronUint16 = 8;  // Megatron's DType codes: uint16 ...
inline constexpr int kMegatronInt32 = 4;   // ... and int32 (vocabularies of 65,500 and more)

uint64_t getLe(std::string_view in, size_t offset, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i)
    value |= uint64_t(static_cast<unsigned char>(in[offset + i])) << (8 * i);
  return value;
}

void putLe(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

[[noreturn]] void fail(const std::string& name, const std::string& problem) {
  throw ConfigError("token shard '" + name + "': " + problem);
}

std::string str(uint64_t v) { return std::to_string(v); }

// The header's token count against the file size: the one check that catches a truncated
// upload or copy without reading the shard.
void checkSize(const std::string& name, const ShardHeader& h, uint64_t file_size,
               uint64_t count_field_offset) {
  if (h.token_count == 0)
    fail(name, "empty shard: the header declares 0 tokens at byte " + str(count_field_offset) +
                   " (remove the file or rewrite it with tokens)");
  const uint64_t width = uint64_t(tokenBytes(h.dtype));
  const uint64_t payload = file_size - h.data_offset;
  const bool truncated = h.token_count > payload / width;  // (not count * width: it may overflow)
  if (!truncated && payload == h.token_count * width) return;
  std::string hint = truncated ? " (the file is truncated: copy or upload it again)"
                               : " (the file is longer than its header says: rewrite it)";
  if (h.dtype == TokenDtype::kUint16 && payload == h.token_count * 4)
    hint =
        " (its size fits uint32 tokens where the header declares uint16: rewrite it with a "
        "uint32 header)";
  fail(name, std::string(truncated ? "truncated" : "size disagrees with the header") +
                 ": the header declares " + str(h.token_count) + " " + tokenDtypeName(h.dtype) +
                 " tokens from byte " + str(h.data_offset) + ", which end at byte " +
                 (h.token_count > (UINT64_MAX - h.data_offset) / width
                      ? std::string("(past 2^64)")
                      : str(h.data_offset + h.token_count * width)) +
                 ", but the file has " + str(file_size) + " bytes" + hint);
}

// A header's dtype against the declared one (data.token_dtype), when one is declared.
void checkDeclaredDtype(const std::string& name, const ShardHeader& h,
                        const ShardFormatSpec& spec) {
  if (spec.dtype && *spec.dtype != h.dtype)
    fail(name, std::string(tokenDtypeName(h.dtype)) + " tokens where " +
                   tokenDtypeName(*spec.dtype) + " are declared: the " + shardFormatName(h.format) +
                   " header" + (h.format == ShardFormat::kMegatron ? " (its .idx)" : " at byte 0") +
                   " says " + tokenDtypeName(h.dtype) + " (fix data.token_dtype or the shard)");
}

ShardHeader parseLlmc(const std::string& name, std::string_view head, uint64_t file_size) {
  if (file_size < kLlmcHeaderBytes || head.size() < kLlmcHeaderBytes)
    fail(name, "truncated at byte " + str(file_size) + ": shorter than llm.c's " +
                   str(kLlmcHeaderBytes) + "-byte header (copy or upload it again)");
  const auto magic = static_cast<int32_t>(getLe(head, 0, 4));
  const auto version = static_cast<int32_t>(getLe(head, 4, 4));
  const auto count = static_cast<int32_t>(getLe(head, 8, 4));
  ShardHeader h;
  h.format = ShardFormat::kLlmc;
  h.version = version;
  h.data_offset = kLlmcHeaderBytes;
  if (magic == kLlmcMagicUint16 && version == kLlmcVersionUint16) {
    h.dtype = TokenDtype::kUint16;
  } else if (magic == kLlmcMagicUint32 && version == kLlmcVersionUint32) {
    h.dtype = TokenDtype::kUint32;
  } else {
    fail(name, "bad version " + std::to_string(version) + " at byte 4 for llm.c magic " +
                   std::to_string(magic) + " (llm.c writes " + std::to_string(kLlmcMagicUint16) +
                   " v" + std::to_string(kLlmcVersionUint16) + " for uint16 tokens and " +
                   std::to_string(kLlmcMagicUint32) + " v" + std::to_string(kLlmcVersionUint32) +
                   " for uint32 tokens)");
  }
  if (count < 0)
    fail(name, "bad token count " + std::to_string(count) + " at byte 8 of the llm.c header");
  h.token_count = uint64_t(count);
  checkSize(name, h, file_size, 8);
  return h;
}

ShardHeader parseTrTokens(const std::string& name, std::string_view head, uint64_t file_size) {
  if (file_size < kTrTokensHeaderBytes || head.size() < kTrTokensHeaderBytes)
    fail(name, "truncated at byte " + str(file_size) + ": shorter than the " +
                   str(kTrTokensHeaderBytes) + "-byte TRTOKENS header (copy it again)");
  ShardHeader h;
  h.format = ShardFormat::kTrainrun;
  h.version = int64_t(getLe(head, 8, 4));
  if (h.version != 1 && h.version != kTrTokensVersionUint32)
    fail(name, "bad version " + std::to_string(h.version) +
                   " at byte 8 of the TRTOKENS header (this trainrun reads 1: uint16 ids, 2: "
                   "uint32 ids)");
  h.dtype = h.version == 1 ? TokenDtype::kUint16 : TokenDtype::kUint32;
  h.vocab_size = getLe(head, 12, 4);
  const uint64_t max_vocab = h.version == 1 ? 65536 : (uint64_t(1) << 32) - 1;
  if (h.vocab_size < 1 || h.vocab_size > max_vocab)
    fail(name, "bad vocab_size " + str(h.vocab_size) + " at byte 12 (version " +
                   std::to_string(h.version) + " allows 1.." + str(max_vocab) + ")");
  h.token_count = getLe(head, 16, 8);
  h.data_offset = kTrTokensHeaderBytes;
  checkSize(name, h, file_size, 16);
  return h;
}

ShardHeader parseHeaderless(const std::string& name, std::string_view head, uint64_t file_size,
                            TokenDtype dtype) {
  const uint64_t width = uint64_t(tokenBytes(dtype));
  if (file_size == 0) fail(name, "empty shard: 0 bytes at byte 0 (remove the file)");
  if (file_size % width != 0)
    fail(name, "truncated at byte " + str(file_size) + ": not a whole number of " +
                   tokenDtypeName(dtype) + " tokens (a partial token at byte " +
                   str(file_size - file_size % width) + "; copy it again)");
  if (head.size() >= 4) {
    const auto magic = static_cast<int32_t>(getLe(head, 0, 4));
    if (magic == kLlmcMagicUint16 || magic == kLlmcMagicUint32 ||
        (head.size() >= 8 && std::memcmp(head.data(), kTrTokensMagic, 8) == 0))
      fail(name,
           "starts with a shard header at byte 0, but data.token_format declares a "
           "headerless file (drop the headerless setting)");
  }
  ShardHeader h;
  h.format = ShardFormat::kHeaderless;
  h.dtype = dtype;
  h.token_count = file_size / width;
  return h;
}

}  // namespace

int tokenBytes(TokenDtype dtype) { return dtype == TokenDtype::kUint16 ? 2 : 4; }

const char* tokenDtypeName(TokenDtype dtype) {
  return dtype == TokenDtype::kUint16 ? "uint16" : "uint32";
}

TokenDtype parseTokenDtype(const std::string& name, const std::string& setting) {
  if (name == "uint16") return TokenDtype::kUint16;
  if (name == "uint32") return TokenDtype::kUint32;
  throw ConfigError(setting + " must be uint16 or uint32 (got '" + name + "')");
}

ShardFormatSpec shardFormatSpec(const std::string& token_format, const std::string& token_dtype) {
  ShardFormatSpec spec;
  spec.headerless = token_format == "headerless";
  if (token_dtype != "auto") spec.dtype = parseTokenDtype(token_dtype, "data.token_dtype");
  return spec;
}

const char* shardFormatName(ShardFormat format) {
  switch (format) {
    case ShardFormat::kLlmc:
      return "llm.c";
    case ShardFormat::kTrainrun:
      return "TRTOKENS";
    case ShardFormat::kHeaderless:
      return "headerless";
    case ShardFormat::kMegatron:
      return "megatron";
  }
  return "?";
}

ShardHeader parseShardHeader(const std::string& name, std::string_view head, uint64_t file_size,
                             const ShardFormatSpec& spec) {
  if (head.size() > file_size) head = head.substr(0, file_size);
  if (spec.headerless) {
    if (!spec.dtype)
      throw ConfigError("token shard '" + name +
                        "': a headerless shard needs data.token_dtype (uint16 or uint32)");
    return parseHeaderless(name, head, file_size, *spec.dtype);
  }
  if (file_size == 0) fail(name, "empty shard: 0 bytes at byte 0 (remove the file)");
  ShardHeader h;
  if (head.size() >= 8 && std::memcmp(head.data(), kTrTokensMagic, 8) == 0) {
    h = parseTrTokens(name, head, file_size);
  } else if (head.size() >= 4 && (int32_t(getLe(head, 0, 4)) == kLlmcMagicUint16 ||
                                  int32_t(getLe(head, 0, 4)) == kLlmcMagicUint32)) {
    h = parseLlmc(name, head, file_size);
  } else {
    fail(name, "bad magic at byte 0: neither llm.c's (int32 " + std::to_string(kLlmcMagicUint16) +
                   " or " + std::to_string(kLlmcMagicUint32) +
                   ") nor TRTOKENS (a headerless file needs data.token_format: headerless and "
                   "data.token_dtype)");
  }
  checkDeclaredDtype(name, h, spec);
  return h;
}

ShardHeader recheckShardHeader(const std::string& name, const ShardHeader& header,
                               uint64_t file_size, const ShardFormatSpec& spec) {
  if (header.format != ShardFormat::kMegatron)
    return parseShardHeader(name, encodeShardHeader(header), file_size, spec);
  if (spec.headerless)
    fail(name,
         "a Megatron .bin (its .idx beside it) where data.token_format declares "
         "headerless files (drop the headerless setting)");
  if (file_size != header.token_count * uint64_t(tokenBytes(header.dtype)))
    fail(name, "size disagrees with its .idx: " + str(header.token_count) + " " +
                   tokenDtypeName(header.dtype) + " tokens, but the file has " + str(file_size) +
                   " bytes (rewrite the pair)");
  checkDeclaredDtype(name, header, spec);
  return header;
}

namespace {

// `key` with its extension `from` replaced by `to`, or "" when it has no stem with `from`.
std::string swapExtension(const std::string& key, const std::string& from, const std::string& to) {
  if (key.size() <= from.size() || key.compare(key.size() - from.size(), from.size(), from) != 0)
    return "";
  return key.substr(0, key.size() - from.size()) + to;
}

}  // namespace

std::string megatronIdxKey(const std::string& bin_key) {
  return swapExtension(bin_key, ".bin", ".idx");
}

std::string megatronBinKey(const std::string& idx_key) {
  return swapExtension(idx_key, ".idx", ".bin");
}

MegatronIdx parseMegatronIdx(const std::string& idx_name, std::string_view head,
                             uint64_t idx_size) {
  if (head.size() > idx_size) head = head.substr(0, idx_size);
  if (head.size() < kMegatronIdxHeadBytes)
    fail(idx_name, "truncated at byte " + str(idx_size) + ": shorter than Megatron's " +
                       str(kMegatronIdxHeadBytes) + "-byte .idx header (copy it again)");
  if (std::memcmp(head.data(), kMegatronMagic, sizeof(kMegatronMagic)) != 0)
    fail(idx_name, "bad magic at byte 0: not a Megatron .idx (MMIDIDX)");
  MegatronIdx idx;
  idx.version = int64_t(getLe(head, 9, 8));
  if (idx.version != 1)
    fail(idx_name, "bad version " + std::to_string(idx.version) +
                       " at byte 9 of the Megatron .idx (this trainrun reads 1)");
  const int code = static_cast<unsigned char>(head[17]);
  if (code == kMegatronUint16) {
    idx.dtype = TokenDtype::kUint16;
  } else if (code == kMegatronInt32) {
    idx.dtype = TokenDtype::kUint32;  // Megatron's ids are never negative
  } else {
    fail(idx_name, "dtype code " + std::to_string(code) +
                       " at byte 17 of the Megatron .idx: trainrun reads token ids of uint16 "
                       "(code 8) and int32 (code 4)");
  }
  idx.sequences = getLe(head, 18, 8);
  idx.documents = getLe(head, 26, 8);
  if (idx.sequences == 0)
    fail(idx_name, "empty shard: 0 sequences at byte 18 (remove the pair or rewrite it)");
  constexpr uint64_t kMaxCount = uint64_t(1) << 56;  // keeps the sizes below from overflowing
  const uint64_t plain = kMegatronIdxHeadBytes + 12 * std::min(idx.sequences, kMaxCount) +
                         8 * std::min(idx.documents, kMaxCount);
  if (idx.sequences < kMaxCount && idx.documents < kMaxCount &&
      (idx_size == plain || idx_size == plain + idx.sequences))  // + int8 modes: multimodal
    return idx;
  const bool truncated = idx_size < plain;
  fail(idx_name, std::string(truncated ? "truncated" : "size disagrees with the header") + ": " +
                     str(idx.sequences) + " sequences and " + str(idx.documents) +
                     " documents at bytes 18 and 26 take " + str(plain) +
                     " bytes, but the file has " + str(idx_size) +
                     (truncated ? " (copy it again)" : " (rewrite the pair)"));
}

ShardHeader megatronHeader(const std::string& bin_name, const MegatronIdx& idx, int64_t last_length,
                           int64_t last_pointer, uint64_t bin_size, const ShardFormatSpec& spec) {
  ShardHeader h;
  h.format = ShardFormat::kMegatron;
  h.version = idx.version;
  h.dtype = idx.dtype;
  const uint64_t width = uint64_t(tokenBytes(h.dtype));
  if (bin_size == 0) fail(bin_name, "empty shard: 0 bytes at byte 0 (remove the pair)");
  if (last_length < 0 || last_pointer < 0 || uint64_t(last_pointer) > bin_size)
    fail(bin_name, "its .idx's last sequence (" + std::to_string(last_length) +
                       " tokens from byte " + std::to_string(last_pointer) +
                       ") lies outside the file's " + str(bin_size) + " bytes (rewrite the pair)");
  const uint64_t end = uint64_t(last_pointer) + uint64_t(last_length) * width;
  if (end != bin_size || bin_size % width != 0)
    fail(bin_name, std::string(bin_size < end ? "truncated" : "size disagrees with its .idx") +
                       ": the .idx's last sequence ends at byte " + str(end) +
                       ", but the file has " + str(bin_size) + " bytes" +
                       (bin_size < end ? " (copy it again)" : " (rewrite the pair)"));
  h.token_count = bin_size / width;
  checkDeclaredDtype(bin_name, h, spec);
  return h;
}

ShardHeader readMegatronHeader(const std::string& bin_name, uint64_t bin_size,
                               const std::string& idx_name, uint64_t idx_size,
                               const ReadIdx& read_idx, const ShardFormatSpec& spec) {
  const uint64_t probe = std::min(idx_size, kMegatronIdxHeadBytes);
  const MegatronIdx idx = parseMegatronIdx(idx_name, read_idx(0, probe), idx_size);
  const std::string length = read_idx(idx.lastLengthAt(), 4);
  const std::string pointer = read_idx(idx.lastPointerAt(), 8);
  return megatronHeader(bin_name, idx, int32_t(getLe(length, 0, 4)), int64_t(getLe(pointer, 0, 8)),
                        bin_size, spec);
}

std::string encodeShardHeader(const ShardHeader& h) {
  std::string out;
  if (h.format == ShardFormat::kLlmc) {
    const bool u16 = h.dtype == TokenDtype::kUint16;
    putLe(out, uint32_t(u16 ? kLlmcMagicUint16 : kLlmcMagicUint32), 4);
    putLe(out, uint32_t(h.version), 4);
    putLe(out, h.token_count, 4);
    out.resize(kLlmcHeaderBytes, '\0');
  } else if (h.format == ShardFormat::kTrainrun) {
    out.assign(kTrTokensMagic, sizeof(kTrTokensMagic));
    putLe(out, uint64_t(h.version), 4);
    putLe(out, h.vocab_size, 4);
    putLe(out, h.token_count, 8);
    putLe(out, 0, 8);
  }
  return out;
}

std::string encodeShard(ShardFormat format, TokenDtype dtype, const std::vector<uint32_t>& tokens,
                        uint64_t vocab_size) {
  const uint64_t limit = dtype == TokenDtype::kUint16 ? 65536 : uint64_t(1) << 32;
  const bool u16 = dtype == TokenDtype::kUint16;
  ShardHeader h;
  h.format = format;
  h.dtype = dtype;
  h.token_count = tokens.size();
  if (format == ShardFormat::kLlmc) {
    if (tokens.size() >= (uint64_t(1) << 31))
      throw ConfigError("llm.c shards hold fewer than 2^31 tokens (got " + str(tokens.size()) +
                        ")");
    h.version = u16 ? kLlmcVersionUint16 : kLlmcVersionUint32;
  } else if (format == ShardFormat::kTrainrun) {
    if (vocab_size < 1 || vocab_size > limit - (u16 ? 0 : 1))
      throw ConfigError("TRTOKENS vocab_size " + str(vocab_size) + " does not fit " +
                        tokenDtypeName(dtype));
    h.version = u16 ? 1 : kTrTokensVersionUint32;
    h.vocab_size = vocab_size;
  }
  std::string out = encodeShardHeader(h);
  out.reserve(out.size() + tokens.size() * size_t(tokenBytes(dtype)));
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] >= limit || (vocab_size > 0 && tokens[i] >= vocab_size))
      throw ConfigError("token " + str(tokens[i]) + " at position " + str(i) + " does not fit " +
                        tokenDtypeName(dtype) +
                        (vocab_size > 0 ? " and vocab_size " + str(vocab_size) : ""));
    putLe(out, tokens[i], tokenBytes(dtype));
  }
  return out;
}

std::pair<std::string, std::string> encodeMegatron(
    TokenDtype dtype, const std::vector<std::vector<uint32_t>>& documents) {
  std::string bin, idx(kMegatronMagic, sizeof(kMegatronMagic));
  putLe(idx, 1, 8);
  idx.push_back(char(dtype == TokenDtype::kUint16 ? kMegatronUint16 : kMegatronInt32));
  putLe(idx, documents.size(), 8);
  putLe(idx, documents.size() + 1, 8);  // document indices: 0, then each document's end
  std::string pointers, ends;
  putLe(ends, 0, 8);
  for (size_t d = 0; d < documents.size(); ++d) {
    putLe(idx, documents[d].size(), 4);
    putLe(pointers, bin.size(), 8);
    putLe(ends, d + 1, 8);
    for (uint32_t t : documents[d]) putLe(bin, t, tokenBytes(dtype));
  }
  return {bin, idx + pointers + ends};
}

}  // namespace trainrun
