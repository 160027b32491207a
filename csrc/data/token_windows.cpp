// WindowIndex: per-shard window counts as prefix sums; SampleStream: the order over them.
#include "data/token_windows.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "core/error.h"

namespace trainrun {

WindowIndex::WindowIndex(const ShardManifest& manifest, uint64_t block_size)
    : block_size_(block_size) {
  if (block_size < 1)
    throw ConfigError("the window length (model block_size) must be at least 1 (got " +
                      std::to_string(block_size) + ")");
  if (manifest.shards.empty())
    throw ConfigError("data.path '" + manifest.source + "' holds no shard");
  starts_.reserve(manifest.shards.size() + 1);
  starts_.push_back(0);
  for (const ShardInfo& s : manifest.shards) {
    const uint64_t tokens = s.header.token_count;
    if (tokens < block_size + 1)
      throw ConfigError(
          "token shard '" + s.key + "' of data.path '" + manifest.source + "' holds " +
          std::to_string(tokens) + " tokens, fewer than one window of block_size + 1 = " +
          std::to_string(block_size + 1) + " (merge it into another shard or remove it)");
    starts_.push_back(starts_.back() + (tokens - 1) / block_size);
  }
}

WindowRef WindowIndex::at(uint64_t window) const {
  if (window >= size())
    throw std::out_of_range("window " + std::to_string(window) + " of " + std::to_string(size()));
  // The last shard whose first window is <= window.
  const auto it = std::upper_bound(starts_.begin(), starts_.end() - 1, window) - 1;
  const auto shard = size_t(it - starts_.begin());
  return {shard, (window - *it) * block_size_};
}

SampleStream::SampleStream(const ShardManifest& manifest, uint64_t block_size,
                           const SampleOrderOptions& options)
    : windows_(manifest, block_size), order_(windows_.size(), options) {}

}  // namespace trainrun
