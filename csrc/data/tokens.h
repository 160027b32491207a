// In-memory token data for language models: byte-level text, synthetic tokens, windows.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace trainrun {

inline constexpr int64_t kTextVocabSize = 256;  // byte-level text: one token per byte

// A stream of token ids and the vocabulary they come from.
struct TokenStream {
  torch::Tensor tokens;  // (n,) int64 in [0, vocab_size)
  int64_t vocab_size = 0;
};

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
