// Token shards (format in tokens.h), byte-level text, synthetic tokens and next-token windows.
#include "data/tokens.h"

#include <cstring>
#include <numeric>
#include <random>
#include <utility>

#include "config/config.h"
#include "core/error.h"
#include "core/file.h"

namespace trainrun {
namespace {

constexpr int64_t kMaxShardVocab = 65536;  // ids are stored as uint16

void putLe(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t getLe(const std::string& in, size_t offset, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i)
    value |= uint64_t(static_cast<unsigned char>(in[offset + i])) << (8 * i);
  return value;
}

std::string readDataFile(const std::string& path) {
  std::optional<std::string> bytes = readWholeFile(path);
  if (!bytes) throw ConfigError("data file '" + path + "' not found (check data.path)");
  return std::move(*bytes);
}

}  // namespace

void writeTokenShard(const std::string& path, const std::vector<int64_t>& tokens,
                     int64_t vocab_size) {
  if (vocab_size < 1 || vocab_size > kMaxShardVocab)
    throw ConfigError("token shard vocab_size must be 1.." + std::to_string(kMaxShardVocab) +
                      " (got " + std::to_string(vocab_size) + ")");
  std::string bytes(kTokenShardMagic, sizeof(kTokenShardMagic));
  putLe(bytes, kTokenShardVersion, 4);
  putLe(bytes, static_cast<uint64_t>(vocab_size), 4);
  putLe(bytes, tokens.size(), 8);
  putLe(bytes, 0, 8);
  bytes.reserve(bytes.size() + 2 * tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= vocab_size)
      throw ConfigError("token " + std::to_string(tokens[i]) + " at position " + std::to_string(i) +
                        " is outside [0, " + std::to_string(vocab_size) + ")");
    putLe(bytes, static_cast<uint64_t>(tokens[i]), 2);
  }
  // A reader never sees a half-written shard under the final name.
  writeFileAtomic(path, bytes);
}

TokenStream readTokenShard(const std::string& path) {
  const std::string bytes = readDataFile(path);
  const std::string what = "token shard '" + path + "'";
  if (bytes.size() < sizeof(kTokenShardMagic) ||
      std::memcmp(bytes.data(), kTokenShardMagic, sizeof(kTokenShardMagic)) != 0)
    throw ConfigError(what + " does not start with the magic TRTOKENS (is it a token shard? " +
                      "data.name=text reads plain text)");
  if (bytes.size() < size_t(kTokenShardHeaderBytes))
    throw ConfigError(what + " is truncated: " + std::to_string(bytes.size()) +
                      " bytes, shorter than the " + std::to_string(kTokenShardHeaderBytes) +
                      "-byte header");
  const uint64_t version = getLe(bytes, 8, 4);
  if (version != kTokenShardVersion)
    throw ConfigError(what + " has format version " + std::to_string(version) +
                      "; this trainrun reads version " + std::to_string(kTokenShardVersion));
  const auto vocab = static_cast<int64_t>(getLe(bytes, 12, 4));
  if (vocab < 1 || vocab > kMaxShardVocab)
    throw ConfigError(what + " declares vocab_size " + std::to_string(vocab) + ", outside 1.." +
                      std::to_string(kMaxShardVocab));
  const uint64_t count = getLe(bytes, 16, 8);
  const uint64_t payload = bytes.size() - kTokenShardHeaderBytes;
  const bool truncated = count > payload / 2;  // (not 2 * count: a corrupt count overflows)
  if (truncated || payload != 2 * count)
    throw ConfigError(what + " is " + (truncated ? "truncated" : "longer than its header says") +
                      ": the header declares " + std::to_string(count) + " tokens but " +
                      std::to_string(payload) + " bytes follow the header");
  TokenStream s;
  s.vocab_size = vocab;
  s.tokens = torch::empty({static_cast<int64_t>(count)}, torch::kInt64);
  int64_t* out = s.tokens.data_ptr<int64_t>();
  for (uint64_t i = 0; i < count; ++i) {
    out[i] = static_cast<int64_t>(getLe(bytes, kTokenShardHeaderBytes + 2 * i, 2));
    if (out[i] >= vocab)
      throw ConfigError(what + ": token " + std::to_string(out[i]) + " at position " +
                        std::to_string(i) + " is >= the header's vocab_size " +
                        std::to_string(vocab));
  }
  return s;
}

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
  } else if (d.name() == "text") {
    stream = readTextBytes(config::dataPath(config));
  } else {
    stream = readTokenShard(config::dataPath(config));
  }
  return tokenWindows(stream, block_size);
}

}  // namespace trainrun
