// The S3 ShardSource: shards listed from s3://, their blocks fetched on demand into a node-local
// LRU cache.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/shard_blocks.h"
#include "data/shard_source.h"

namespace trainrun {

// Where and how much an S3 shard source caches.
//
// A shard is cached as a sparse file of its size that fills block by block (ShardBlocks): a
// read fetches only the blocks it touches, so the first step costs one block per window drawn
// whatever the corpus size, and the sample order's locality (groups of 16 order blocks of
// ~1 MiB) makes later reads hit the blocks already fetched. The limit counts the bytes fetched;
// eviction removes whole shards no process reads at that moment, least recently opened first.
// The whole corpus, when the disk holds it, never fetches a block twice per node.
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
  // Bytes per cache block, one ranged GET each (0: kShardBlockBytes). Must not exceed the limit.
  uint64_t block_bytes = kShardBlockBytes;
  // "http://host:port" of an S3-compatible server; empty: AWS_ENDPOINT_URL_S3 and the like.
  std::string endpoint;
};

// An S3 source. `data_path` is s3://bucket/prefix (every object whose key starts with it,
// keyed relative to the prefix's folder; a prefix naming a folder, "s3://b/shards/", keys
// relative to it) or s3://bucket/dir/<glob> (a glob on the last part: `*`, `?`, `[...]`).
//
// Construction throws ConfigError when limit_bytes is below one block (naming the fix). list()
// costs one listing plus one ranged GET of the first kShardHeaderProbeBytes per shard (never
// the whole object), except shards the folder's index (writeS3ShardIndex) holds at their
// listed size and ETag: those cost nothing more than the index's one GET; version = the ETag.
// Throws ConfigError naming data.path for no match, and for a corrupt index.
//
// open() maps <dir>/s3/<bucket>/<key>/<etag>-<size>/<name>, creating it sparse when absent (an
// exclusive flock on "<name>.fetch" beside it makes one rank of a node create it; the others
// map the same file), with the header its listing read: opening fetches nothing (the listing
// and every fetch are pinned to the same ETag). Each read of the TokenShard fetches the
// blocks it needs that no process of the node has, each one ranged GET pinned to the listed
// ETag (If-Match) with the client's retry policy; the ranks of a node fetch a block once. A
// shard is held (a shared flock on "<name>.held") while its TokenShard lives, and eviction
// (least recently opened first, by mtime) skips held shards in every process. Throws (from
// open() or a read) ConfigError naming the object when it was deleted (404) or replaced (412)
// since list(); StorageError for a full cache disk (naming the folder) and for a cache whose
// held shards leave no room (naming data.cache_limit_gb). Blocks are not checked against the
// ETag's MD5 (that takes the whole object); a whole-object fetch (tables) is.
//
// prefetch(shard) fetches every block of the shard on a background thread (at most
// prefetch_depth queued); its error, if any, is thrown by the next open() of that shard.
// readParallelism() is the S3 client's parallelism: a batch's windows fetch their blocks at once.
std::unique_ptr<ShardSource> openS3ShardSource(const std::string& data_path,
                                               const ShardFormatSpec& spec, uint64_t vocab_size = 0,
                                               const S3ShardCacheOptions& cache = {});

// What writeS3ShardIndex wrote.
struct ShardIndexReport {
  std::string uri;                   // the index object
  std::vector<ShardInfo> shards;     // the shards indexed, sorted by key
  std::vector<std::string> skipped;  // one line per object that is not a readable token shard
};

// `trainrun index DATA_PATH`: lists every object in the folder of `data_path` (s3://b/dir/ for
// s3://b/dir/train_ or s3://b/dir/*.bin: the index serves every data.path in that folder), reads
// each one's header (one ranged GET each) and writes the ShardIndex (data/shard_index.h) of the
// token shards among them as <dir>/.trainrun-index, in one PUT (a reader sees the old index or
// the new one). Objects that do not parse as shards are skipped and reported. With the index,
// list() reads no header of an indexed shard: a listing and one small GET for any corpus size.
// Throws ConfigError for a path that is not s3:// or a folder without a shard.
ShardIndexReport writeS3ShardIndex(const std::string& data_path, const std::string& endpoint = "");

}  // namespace trainrun
