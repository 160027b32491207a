// Windows of block_size + 1 tokens numbered across a shard manifest, and the sample stream.
#pragma once

#include <cstdint>
#include <vector>

#include "data/sample_order.h"
#include "data/shard_manifest.h"

namespace trainrun {

// A window: tokens [token_offset, token_offset + block_size + 1) of manifest shard `shard`
// (inputs are its first block_size tokens, targets its last block_size).
struct WindowRef {
  size_t shard = 0;
  uint64_t token_offset = 0;

  bool operator==(const WindowRef& o) const {
    return shard == o.shard && token_offset == o.token_offset;
  }
};

// Each shard is cut into (tokens - 1) / block_size windows at stride block_size (the last token
// of one window starts the next; a window never crosses shards, so no sample mixes documents
// of two shards and no shard's tail is read with another's head); windows are numbered in
// manifest order. O(shards) memory; at() is a binary search over the shards.
class WindowIndex {
 public:
  // Throws ConfigError naming the first shard with fewer than block_size + 1 tokens (it holds
  // no window: merge it into another shard or remove it), or for block_size < 1.
  WindowIndex(const ShardManifest& manifest, uint64_t block_size);

  uint64_t size() const { return starts_.back(); }  // windows in the manifest
  uint64_t blockSize() const { return block_size_; }
  uint64_t firstWindow(size_t shard) const { return starts_[shard]; }
  WindowRef at(uint64_t window) const;  // window in [0, size()), else std::out_of_range

 private:
  uint64_t block_size_;
  std::vector<uint64_t> starts_;  // (shards + 1,): first window of each shard, then the total
};

// The sample stream of a manifest: stream position p (samples consumed since the run began)
// is window SampleOrder::streamAt(p), epoch after epoch without end, a pure function of (the
// manifest, block_size, the order options). World size, accumulation and batch size only group
// positions into batches (batch_plan.h), so a run resumed with any of them continues the same
// stream. Thread-safe (const).
class SampleStream {
 public:
  SampleStream(const ShardManifest& manifest, uint64_t block_size,
               const SampleOrderOptions& options);

  uint64_t windowsPerEpoch() const { return windows_.size(); }
  const WindowIndex& windows() const { return windows_; }
  // The global window number at stream position p, and where its tokens are.
  uint64_t windowId(uint64_t position) const { return order_.streamAt(position); }
  WindowRef windowAt(uint64_t position) const { return windows_.at(windowId(position)); }

 private:
  WindowIndex windows_;
  SampleOrder order_;
};

}  // namespace trainrun
