// In-memory token data: byte-level text, synthetic tokens and next-token windows.
#include "data/tokens.h"

#include <numeric>
#include <random>
#include <utility>

#include "config/config.h"
#include "core/error.h"
#include "core/file.h"

namespace trainrun {
namespace {

std::string readDataFile(const std::string& path) {
  std::optional<std::string> bytes = readWholeFile(path);
  if (!bytes) throw ConfigError("data file '" + path + "' not found (check data.path)");
  return std::move(*bytes);
}

}  // namespace

TokenStream readTextBytes(const std::string& path) {
  const std::string bytes = readDataFile(path);
  if (bytes.empty()) throw ConfigError("text file '" + path + "' is empty");
  TokenStream s;
  s.vocab_size = kTextVocabSize;
  s.tokens = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kInt64);
  int64_t* out = s.tokens.data_ptr<int64_t>();
  for (size_t i = 0; i < bytes.size(); ++i) out[i] = static_cast<unsigned char>(bytes[i]);
  return s;
}

TokenStream makeSyntheticTokens(int64_t count, int64_t vocab_size, uint64_t seed) {
  // mt19937_64's sequence is fixed by the standard (its distributions are not, hence the
  // plain modulo): the same seed gives the same tokens with every compiler.
  std::mt19937_64 rng(seed);
  std::vector<int64_t> successor(static_cast<size_t>(vocab_size));
  std::iota(successor.begin(), successor.end(), 0);
  for (int64_t i = vocab_size - 1; i > 0; --i)
    std::swap(successor[size_t(i)], successor[size_t(rng() % uint64_t(i + 1))]);
  TokenStream s;
  s.vocab_size = vocab_size;
  s.tokens = torch::empty({count}, torch::kInt64);
  int64_t* out = s.tokens.data_ptr<int64_t>();
  int64_t prev = static_cast<int64_t>(rng() % uint64_t(vocab_size));
  for (int64_t i = 0; i < count; ++i) {
    const bool noise = rng() % 10 == 0;
    prev = noise ? static_cast<int64_t>(rng() % uint64_t(vocab_size)) : successor[size_t(prev)];
    out[i] = prev;
  }
  return s;
}

Dataset tokenWindows(const TokenStream& stream, int64_t block_size) {
  const int64_t n = stream.tokens.size(0);
  const int64_t windows = block_size > 0 ? (n - 1) / block_size : 0;
  if (windows < 2)
    throw ConfigError("token data holds " + std::to_string(n) + " tokens, fewer than the " +
                      std::to_string(2 * block_size + 1) + " that two windows of block_size " +
                      std::to_string(block_size) + " need");
  // Window i is tokens [i*T, i*T + T]; the last token of one window starts the next.
  // int32 on the host: 8 bytes per token for inputs and targets, never copied whole to a GPU
  // (the trainer copies each batch).
  torch::Tensor used =
      stream.tokens.narrow(0, 0, windows * block_size + 1).to(torch::kInt);  // (N*T + 1,)
  Dataset d;
  d.features = used.narrow(0, 0, windows * block_size).view({windows, block_size}).clone();
  d.labels = used.narrow(0, 1, windows * block_size).view({windows, block_size}).clone();
  d.num_classes = stream.vocab_size;
  return d;
}

bool isTokenData(const std::string& data_name) {
  return data_name == "tokens" || data_name == "text" || data_name == "synthetic_tokens";
}

Dataset loadTokenDataset(const config::JobConfig& config) {
  const auto& d = config.data();
  if (!config::isGptModel(config.model().name()))
    throw ConfigError("data.name=" + d.name() + " holds tokens; it needs a GPT model.name " +
                      "(gpt-tiny, gpt2-124m or gpt), not '" + config.model().name() + "'");
  const int64_t block_size = config::blockSize(config);
  TokenStream stream;
  if (d.name() == "synthetic_tokens") {
    // One token more than the windows need: the last window's last label.
    stream = makeSyntheticTokens(d.synthetic_samples() * block_size + 1, d.synthetic_vocab(),
                                 static_cast<uint64_t>(config.train().seed()));
  } else {  // text (tokens stream from their shards: data/token_corpus.h)
    stream = readTextBytes(config::dataPath(config));
  }
  return tokenWindows(stream, block_size);
}

}  // namespace trainrun
