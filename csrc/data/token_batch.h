// TokenBatchReader: the windows of consecutive stream positions as (count, T) inputs and targets.
#pragma once

#include <cstdint>
#include <vector>

#include "data/shard_source.h"
#include "data/token_windows.h"

namespace trainrun {

// Reads what BatchPlan::positions names: row i is the window at stream position begin + i,
// inputs[i] its tokens [0, T) and targets[i] its tokens [1, T] (T = block_size), both
// row-major (count, T). Shards are opened through the source on first use (a caching backend
// fetches them then) and ids are checked against the vocabulary as they are copied.
//
// Contract: const and thread-safe (a prefetch thread reads the next batch while the training
// thread uses the last); `source`, `manifest` and `stream` outlive the reader, and `stream` was
// built from `manifest`.
class TokenBatchReader {
 public:
  TokenBatchReader(ShardSource& source, const ShardManifest& manifest, const SampleStream& stream)
      : source_(source), manifest_(manifest), stream_(stream) {}

  uint64_t blockSize() const { return stream_.windows().blockSize(); }

  // Fills inputs and targets, each count * blockSize() values.
  void read(uint64_t begin, uint64_t count, int32_t* inputs, int32_t* targets) const;
  void read(uint64_t begin, uint64_t count, int64_t* inputs, int64_t* targets) const;
  // The global window numbers of positions [begin, begin + count): what a batch's sample ids
  // are (the elastic-determinism check hashes them).
  std::vector<uint64_t> windowIds(uint64_t begin, uint64_t count) const;
  // Asks the shards to read the windows' pages ahead (TokenShard::prefetch): for a source that
  // fetches on demand, fetches them, source.readParallelism() windows at once. read() does this
  // first for such a source, so a batch's blocks arrive together rather than one after another.
  void prefetch(uint64_t begin, uint64_t count) const;

 private:
  template <typename Out>
  void readAs(uint64_t begin, uint64_t count, Out* inputs, Out* targets) const;

  ShardSource& source_;
  const ShardManifest& manifest_;
  const SampleStream& stream_;
};

}  // namespace trainrun
