// The shard index: a folder's shard headers kept in one object beside the shards, so listing a
// corpus of any number of S3 shards costs a listing and one small read, not a read per shard.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/shard_source.h"

namespace trainrun {

// The index's name in the folder it describes (hidden: shard listings skip names starting with
// '.', so a folder's data.path never takes it for a shard).
inline constexpr const char* kShardIndexName = ".trainrun-index";

// The headers of a folder's shards, each pinned to its shard's size and version (the ETag), so
// an entry only ever stands for the very object it was read from: a shard added or rewritten
// since the index was written is read as if there were no index. An entry's header is checked
// again (recheckShardHeader) on every use, so it passes every check a header read does,
// data.token_format and data.token_dtype included.
class ShardIndex {
 public:
  ShardIndex() = default;
  // Keys relative to the index's folder, as ShardSource::list() gives them.
  explicit ShardIndex(const std::vector<ShardInfo>& shards);
  // Parses toText's output. Throws ConfigError naming `what` (the index object) and the fix.
  static ShardIndex fromText(const std::string& text, const std::string& what);
  // A shard manifest of the entries (manifestToText): one line per shard.
  std::string toText() const;
  // The header indexed for `key`, when the entry's size and version are these; else nullptr.
  const ShardHeader* find(const std::string& key, uint64_t bytes, const std::string& version) const;
  size_t size() const { return entries_.size(); }

 private:
  std::map<std::string, ShardInfo> entries_;
};

}  // namespace trainrun
