// TokenCorpus: the shards listed once, their sample stream, and the evaluation windows.
#include "data/token_corpus.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "core/error.h"
#include "data/shard_listing.h"

namespace trainrun {
namespace {

// The launcher's listing when it made one (a node lists once), else this rank's.
ShardManifest listed(ShardSource& source) {
  if (std::optional<ShardManifest> saved = launcherShardListing(source.describe())) return *saved;
  ShardManifest manifest = buildManifest(source);
  manifest.source = source.describe();
  return manifest;
}

}  // namespace

TokenCorpus::TokenCorpus(std::unique_ptr<ShardSource> source, uint64_t block_size,
                         const SampleOrderOptions& order)
    : source_(std::move(source)),
      manifest_(listed(*source_)),
      stream_(manifest_, block_size, order),
      reader_(*source_, manifest_, stream_) {}

Dataset TokenCorpus::windowsInOrder(uint64_t count, int64_t num_classes) const {
  count = std::min(count, windows());
  const uint64_t t = reader_.blockSize();
  Dataset out;
  out.features = torch::empty({int64_t(count), int64_t(t)}, torch::kLong);  // (count, T)
  out.labels = torch::empty_like(out.features);
  out.num_classes = num_classes;
  std::vector<int64_t> window(t + 1);
  for (uint64_t i = 0; i < count; ++i) {
    const WindowRef w = stream_.windows().at(i);
    source_->open(manifest_.shards[w.shard])->read(w.token_offset, t + 1, window.data());
    std::memcpy(out.features[int64_t(i)].data_ptr<int64_t>(), window.data(), t * sizeof(int64_t));
    std::memcpy(out.labels[int64_t(i)].data_ptr<int64_t>(), window.data() + 1, t * sizeof(int64_t));
  }
  return out;
}

std::unique_ptr<TokenCorpus> openTokenCorpus(const config::JobConfig& config,
                                             const std::string& path) {
  const auto vocab = static_cast<uint64_t>(config::vocabSize(config));
  std::unique_ptr<ShardSource> source = openJobShardSource(config, path, vocab);
  SampleOrderOptions order;
  order.seed = static_cast<uint64_t>(config.train().seed());
  return std::make_unique<TokenCorpus>(std::move(source),
                                       static_cast<uint64_t>(config::blockSize(config)), order);
}

TrainEvalSplit loadTokenCorpus(const config::JobConfig& config) {
  const auto& d = config.data();
  std::shared_ptr<const TokenCorpus> corpus = openTokenCorpus(config, d.path());
  int64_t vocab = config::vocabSize(config);
  if (vocab == 0)  // the model takes the data's: the largest a TRTOKENS header declares
    for (const ShardInfo& s : corpus->manifest().shards)
      vocab = std::max(vocab, int64_t(s.header.vocab_size));
  if (vocab == 0)
    throw ConfigError("data.path " + d.path() + ": the shards (" +
                      shardFormatName(corpus->manifest().shards[0].header.format) +
                      ") declare no vocabulary; set model.vocab_size (GPT-2's is 50257)");
  TrainEvalSplit split;
  split.train = corpus->windowsInOrder(1, vocab);
  if (!d.validation_path().empty())
    split.validation_corpus = openTokenCorpus(config, d.validation_path());
  split.eval = (split.validation_corpus ? *split.validation_corpus : *corpus)
                   .windowsInOrder(kMaxEvalWindows, vocab);
  split.corpus = std::move(corpus);
  return split;
}

DataDigest digestTokenCorpus(const config::JobConfig& config, const TrainEvalSplit& data) {
  std::vector<InputFile> parts;
  auto add = [&](const char* role, const std::string& path, const TokenCorpus* corpus) {
    if (corpus)
      parts.push_back(
          {role, path, manifestDigest(corpus->manifest()), corpus->manifest().totalBytes()});
  };
  add("train", config.data().path(), data.corpus.get());
  add("validation", config.data().validation_path(), data.validation_corpus.get());
  return digestOf(std::move(parts));
}

}  // namespace trainrun
