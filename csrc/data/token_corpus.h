// TokenCorpus: data.name=tokens as streamed shards (local or S3): the sample stream and eval
// windows.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>

#include "config/config.h"
#include "data/data_digest.h"
#include "data/dataset.h"
#include "data/shard_source.h"
#include "data/token_batch.h"
#include "data/token_windows.h"

namespace trainrun {

// The shards data.path (or data.validation_path) names, listed once (a listing and a header read
// per shard, never the tokens), their windows and their sample stream. Memory is O(shards):
// shards are memory-mapped (local) or fetched into the node's cache (S3) as they are read.
//
// Contract: reader() is thread-safe (the batch prefetcher reads while the trainer evaluates).
class TokenCorpus {
 public:
  TokenCorpus(std::unique_ptr<ShardSource> source, uint64_t block_size,
              const SampleOrderOptions& order);

  const ShardManifest& manifest() const { return manifest_; }
  const SampleStream& stream() const { return stream_; }
  const TokenBatchReader& reader() const { return reader_; }
  uint64_t windows() const { return stream_.windowsPerEpoch(); }

  // Windows [0, count) in manifest order (not shuffled) as (count, T) int64 features and
  // labels: the evaluation set. count is capped at windows().
  Dataset windowsInOrder(uint64_t count, int64_t num_classes) const;

 private:
  std::unique_ptr<ShardSource> source_;
  ShardManifest manifest_;
  SampleStream stream_;
  TokenBatchReader reader_;
};

// The corpus at `path` (data.path or data.validation_path) as `config` declares its shards
// (data.token_format, data.token_dtype, model.vocab_size bounds the ids, data.cache_limit_gb
// for s3:// paths, checkpoint.s3_endpoint). Throws ConfigError naming the path or shard.
std::unique_ptr<TokenCorpus> openTokenCorpus(const config::JobConfig& config,
                                             const std::string& path);

// data.name=tokens: the corpus of data.path; evaluation on the first kMaxEvalWindows windows of
// data.validation_path (else of data.path's shards, which training also reads). The vocabulary
// is model.vocab_size, else the preset's, else the TRTOKENS headers' (llm.c shards declare
// none: ConfigError naming model.vocab_size).
TrainEvalSplit loadTokenCorpus(const config::JobConfig& config);

// The data's identity from the shard manifests (key, size, ETag or mtime, header of every
// shard; no token read): per role (train, validation) and over both.
DataDigest digestTokenCorpus(const config::JobConfig& config, const TrainEvalSplit& data);

// At most this many validation windows are evaluated (in manifest order): llm.c evaluates a
// fixed number of validation batches for the same reason, a bounded evaluation pass.
inline constexpr uint64_t kMaxEvalWindows = 1024;

}  // namespace trainrun
