// The shard manifest: the data's identity without reading the tokens, and what changed between two.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/shard_source.h"

namespace trainrun {

// Every shard of a data set, sorted by key: what numbers the windows and names the data.
struct ShardManifest {
  std::string source;  // data.path as written, for messages; not part of the identity
  std::vector<ShardInfo> shards;

  uint64_t totalTokens() const;
  uint64_t totalBytes() const;
};

// The source's listing as a manifest (ShardSource::list's errors).
ShardManifest buildManifest(ShardSource& source);

// The canonical text of a manifest: a version line, then one tab-separated line per shard
// (key, bytes, version, format, header version, dtype, tokens, data offset, vocab_size). What a
// checkpoint stores, and what manifestDigest hashes.
std::string manifestToText(const ShardManifest& manifest);
// Parses manifestToText's output (`source` is not in it). Throws ConfigError naming `what`
// (e.g. the checkpoint object) for malformed text.
ShardManifest manifestFromText(const std::string& text, const std::string& what);

// SHA-256 (hex) of manifestToText: the data's identity for the run name, the resume fingerprint
// and lineage. It changes when a shard is added, removed, resized or rewritten (ETag or mtime),
// never with data.path's spelling, and costs no read of the tokens.
std::string manifestDigest(const ShardManifest& manifest);

// One difference between the manifest a run was started with and the one it sees now.
struct ShardChange {
  enum class Kind { kAdded, kRemoved, kResized, kReplaced };
  Kind kind;
  std::string key;
  std::string detail;  // "4096 -> 2048 bytes", "mtime:1 -> mtime:2", "" for added/removed
};
const char* shardChangeName(ShardChange::Kind kind);  // "added", "removed", ...

// What changed from `before` to `now`, in key order: shards added or removed, resized (another
// byte count), replaced (same size, another version or header).
std::vector<ShardChange> diffManifests(const ShardManifest& before, const ShardManifest& now);

// "3 shards changed: added 'c.bin'; resized 'a.bin' (4096 -> 2048 bytes); ...", naming the first
// `max_named` changes and counting the rest.
std::string describeChanges(const std::vector<ShardChange>& changes, size_t max_named = 5);

// Throws ConfigError when `now` differs from `before` (a resume must read the data it started
// with): one line naming what changed and the fix.
void requireSameShards(const ShardManifest& before, const ShardManifest& now);

}  // namespace trainrun
