// ShardSource: where token shards come from (data.path: a file, a glob or a prefix), by backend.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/token_shard.h"
#include "data/token_shard_format.h"

namespace trainrun {

// One shard as listed: what identifies it without reading its tokens.
struct ShardInfo {
  std::string key;  // relative to the source's root, '/'-separated; unique and sorted
  uint64_t bytes = 0;
  // What changes when the object is rewritten: "mtime:<ns since the epoch>" for a local file,
  // the ETag for an S3 object.
  std::string version;
  ShardHeader header;
};

// Lists the shards data.path names and hands out readable shards.
//
// Contract: list() costs a listing plus one header read (and a stat or HEAD) per shard (three
// small reads of the .idx for a Megatron .bin), never a read of the tokens; its order (sorted by
// key) numbers the windows, so it must not depend on the listing's order. open() may be called from
// several threads; the TokenShard it returns stays valid while held, whatever the source does (a
// caching backend evicts only shards no one holds). A backend for remote objects (S3) fetches the
// blocks of a shard that reads ask for into a node-local cache and maps the cached file, so the
// readers stay the same.
class ShardSource {
 public:
  virtual ~ShardSource() = default;

  // data.path as the user wrote it, for messages.
  virtual std::string describe() const = 0;
  // Every shard, sorted by key. Throws ConfigError (one line naming data.path) when nothing
  // matches, and parseShardHeader's errors for the first bad shard.
  virtual std::vector<ShardInfo> list() = 0;
  // A readable shard for `shard` (as list() returned it). Throws ConfigError naming the shard
  // when it is gone or changed (size or version) since it was listed.
  virtual std::shared_ptr<const TokenShard> open(const ShardInfo& shard) = 0;
  // A hint that `shard` is opened soon: a caching backend starts fetching it in the background
  // (its errors are thrown by the next open() of it). Local shards need nothing.
  virtual void prefetch(const ShardInfo& shard) { (void)shard; }
  // Reads worth running at once for a batch's windows: 1 for local shards (the page cache
  // reads ahead), more for a backend whose reads wait on the network.
  virtual int readParallelism() const { return 1; }
};

// Local shards. `data_path`:
//   - a file: that one shard;
//   - a glob (`*`, `?` or `[` in it, e.g. `data/fineweb_train_*.bin`): the regular files it
//     matches, keyed relative to the folder above the first wildcard component;
//   - a folder (`data/shards` or `data/shards/`): every regular file below it;
//   - otherwise a prefix, as on S3 (`data/shards/fineweb_train_`): the files and folders of
//     its parent folder whose names start with it, keyed relative to that parent.
// Names starting with '.' and trainrun's temporary files are skipped. `vocab_size` bounds the
// ids (0: only the header's bound).
std::unique_ptr<ShardSource> openLocalShardSource(const std::string& data_path,
                                                  const ShardFormatSpec& spec,
                                                  uint64_t vocab_size = 0);

}  // namespace trainrun
