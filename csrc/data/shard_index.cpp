// The shard index: its text (a shard manifest) and its lookups, pinned to size and version.
#include "data/shard_index.h"

#include "core/error.h"
#include "data/shard_manifest.h"

namespace trainrun {

ShardIndex::ShardIndex(const std::vector<ShardInfo>& shards) {
  for (const ShardInfo& s : shards) entries_[s.key] = s;
}

ShardIndex ShardIndex::fromText(const std::string& text, const std::string& what) {
  try {
    return ShardIndex(manifestFromText(text, what).shards);
  } catch (const ConfigError& e) {
    throw ConfigError(std::string(e.what()) + ": write it again with `trainrun index " +
                      "DATA_PATH`, or delete it");
  }
}

std::string ShardIndex::toText() const {
  ShardManifest manifest;
  for (const auto& [key, shard] : entries_) manifest.shards.push_back(shard);
  return manifestToText(manifest);
}

const ShardHeader* ShardIndex::find(const std::string& key, uint64_t bytes,
                                    const std::string& version) const {
  const auto it = entries_.find(key);
  if (it == entries_.end() || it->second.bytes != bytes || it->second.version != version)
    return nullptr;
  return &it->second.header;
}

}  // namespace trainrun
