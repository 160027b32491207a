// Token data for language models: shard files, byte-level text, synthetic tokens, windows.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace trainrun {

// A token shard file, all integers little-endian:
//
//   offset  size  field
//        0     8  magic: the ASCII bytes "TRTOKENS"
//        8     4  uint32 version: 1
//       12     4  uint32 vocab_size: 1..65536; every token id is < vocab_size
//       16     8  uint64 token count n
//       24     8  reserved, zero
//       32    2n  n uint16 token ids
//
// The file is exactly 32 + 2n bytes long. GPT-2's 50,257 ids fit in uint16.
inline constexpr char kTokenShardMagic[8] = {'T', 'R', 'T', 'O', 'K', 'E', 'N', 'S'};
inline constexpr uint32_t kTokenShardVersion = 1;
inline constexpr int64_t kTokenShardHeaderBytes = 32;
inline constexpr int64_t kTextVocabSize = 256;  // byte-level text: one token per byte

// A stream of token ids and the vocabulary they come from.
struct TokenStream {
  torch::Tensor tokens;  // (n,) int64 in [0, vocab_size)
  int64_t vocab_size = 0;
};

// Writes `tokens` as a shard (atomically: temporary file, then rename). Throws ConfigError
// for a vocab_size outside 1..65536 or a token outside [0, vocab_size), StorageError when the
// file cannot be written.
void writeTokenShard(const std::string& path, const std::vector<int64_t>& tokens,
                     int64_t vocab_size);

// Reads a shard. Throws ConfigError naming the file for a missing file, a bad magic or
// version, a truncated (or overlong) file, or a token id >= vocab_size.
TokenStream readTokenShard(const std::string& path);

// Every byte of the file is a token (vocabulary 256), so any UTF-8 text trains as is.
// Throws ConfigError for a missing or empty file.
TokenStream readTextBytes(const std::string& path);

// A deterministic, learnable stream: each token is a fixed random successor of the one before
// (a random permutation of the vocabulary chosen by `seed`), replaced by a uniformly random
// token one time in ten so that the stream never settles into a short cycle. A model that
// learns the successor table reaches a loss near 0.1 ln(vocab) + 0.33 nats; chance is ln(vocab).
TokenStream makeSyntheticTokens(int64_t count, int64_t vocab_size, uint64_t seed);

// Cuts the stream into non-overlapping windows of block_size + 1 tokens (stride block_size,
// so each token is a target once): features = window[:-1], labels = window[1:], both
// (N, block_size) int64; num_classes = vocab_size. Throws ConfigError when the stream holds
// fewer than two windows.
Dataset tokenWindows(const TokenStream& stream, int64_t block_size);

// True for data.name values holding tokens (tokens, text, synthetic_tokens).
bool isTokenData(const std::string& data_name);

// The token dataset data.name names, windowed by the model's block_size (all windows; the
// caller splits).
Dataset loadTokenDataset(const config::JobConfig& config);

}  // namespace trainrun
