// ShardListings: the node's token shards listed once by the launcher, handed to its ranks.
#pragma once

#include <string>

#include "config/config.h"

namespace trainrun::launch {

// For data.name=tokens: lists data.path and data.validation_path (local, or s3:// with one
// listing and one ranged header GET per shard) and checks them as each rank would (sizes
// against headers, every shard long enough for a window), so a bad shard or path is one line
// before any rank starts. Then saves the listings in a private folder under $TMPDIR and points
// $TRAINRUN_SHARD_LISTINGS at it, so the ranks this launcher starts read them instead of
// listing again: one listing per node (8 ranks of 1,000 S3 shards: 1,000 header GETs, not
// 8,000). Throws ConfigError / StorageError (one line) from the listing; a folder that cannot
// be made is a warning (the ranks list themselves). Other data: nothing.
class ShardListings {
 public:
  explicit ShardListings(const config::JobConfig& config);
  ~ShardListings();  // removes the folder
  ShardListings(const ShardListings&) = delete;
  ShardListings& operator=(const ShardListings&) = delete;

 private:
  std::string dir_;
};

}  // namespace trainrun::launch
