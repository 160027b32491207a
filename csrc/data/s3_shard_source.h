// The S3 ShardSource: shards listed from s3:// and fetched whole into a node-local LRU cache.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "data/shard_source.h"

namespace trainrun {

// Where and how much an S3 shard source caches.
//
// Whole shards are cached (TokenShard maps a whole file; llm.c shards are ~200 MB, so a shard is
// also a sensible transfer unit). The limit must hold every shard open at once plus those being
// prefetched: with the default sample order a group of group_blocks (16) blocks reads up to 16
// distinct shards at once, so pick cache_limit >= (16 + prefetch_depth) x the largest shard
// (about 3.6 GB for llm.c's 200 MB shards); the whole corpus, when the disk holds it, never
// fetches a shard twice per node.
struct S3ShardCacheOptions {
  static constexpr uint64_t kDefaultLimit = 64ull << 30;
  static constexpr int kDefaultPrefetchDepth = 2;
  // Empty: dataCacheDir() (TRAINRUN_CACHE_DIR, else the user's cache folder or the temp dir).
  std::string dir;
  // Bytes of cached shards this node keeps (data.cache_limit_gb); least recently used shards no
  // one maps are evicted to stay under it.
  uint64_t limit_bytes = kDefaultLimit;
  // Shards queued for the background prefetch at most; more requests are dropped (a hint).
  int prefetch_depth = kDefaultPrefetchDepth;
  // "http://host:port" of an S3-compatible server; empty: AWS_ENDPOINT_URL_S3 and the like.
  std::string endpoint;
};

// An S3 source. `data_path` is s3://bucket/prefix (every object whose key starts with it,
// keyed relative to the prefix's folder; a prefix naming a folder, "s3://b/shards/", keys
// relative to it) or s3://bucket/dir/<glob> (a glob on the last part: `*`, `?`, `[...]`).
//
// list() costs one listing plus one ranged GET of the first kShardHeaderProbeBytes per shard
// (never the whole object); version = the ETag. Throws ConfigError naming data.path for no
// match, or the first shard larger than limit_bytes (naming the fix).
//
// open() maps <dir>/s3/<bucket>/<key>/<etag>-<size>/<name>, fetching it first when absent:
// an exclusive flock on "<name>.fetch" beside it makes the ranks of a node fetch it once (the
// others wait, then map it); the fetch lands in a temporary name and is renamed when whole and
// checked against its ETag. A shard is held (a shared flock on "<name>.held") from open() while
// its TokenShard lives, and eviction (least recently opened first, by mtime) skips held shards
// in every process. Throws ConfigError naming the object when it was deleted (404) or replaced
// (412 on If-Match) since list(); StorageError for a full cache disk (naming the folder) and
// for a cache whose held shards leave no room (naming data.cache_limit_gb).
//
// prefetch(shard) queues the shard's fetch on a background thread (at most prefetch_depth
// queued); its error, if any, is thrown by the next open() of that shard.
std::unique_ptr<ShardSource> openS3ShardSource(const std::string& data_path,
                                               const ShardFormatSpec& spec, uint64_t vocab_size = 0,
                                               const S3ShardCacheOptions& cache = {});

}  // namespace trainrun
