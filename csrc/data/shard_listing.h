// A job's shard sources, and the listings a launcher hands its ranks (once per node, not per rank).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "config/config.h"
#include "data/shard_manifest.h"
#include "data/shard_source.h"

namespace trainrun {

// The shard source for `path` (the job's data.path or data.validation_path): S3 for s3://
// (the node cache's limit from data.cache_limit_gb, checkpoint.s3_endpoint), local otherwise,
// reading data.token_format / data.token_dtype; ids checked against `vocab` (0: the headers').
std::unique_ptr<ShardSource> openJobShardSource(const config::JobConfig& config,
                                                const std::string& path, uint64_t vocab);

// Writes `manifest`, the listing of `data_path`, into the folder `dir` (the launcher's; the
// ranks find it through $TRAINRUN_SHARD_LISTINGS). Throws StorageError naming the file.
void saveShardListing(const std::string& dir, const std::string& data_path,
                      const ShardManifest& manifest);

// The listing of `data_path` the launcher saved, when $TRAINRUN_SHARD_LISTINGS names a folder
// that holds one; nullopt otherwise (the rank lists the shards itself). Throws ConfigError for
// a listing that does not parse.
std::optional<ShardManifest> launcherShardListing(const std::string& data_path);

}  // namespace trainrun
