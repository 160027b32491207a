// `trainrun index DATA_PATH`: writes the shard index of an S3 folder of token shards.
#pragma once

#include <string>
#include <vector>

namespace trainrun::launch {

// The command's help text.
std::string indexUsage();

// `args` after "index": one s3:// data path, and optionally --s3-endpoint URL (else
// AWS_ENDPOINT_URL_S3 and the like). Writes <folder>/.trainrun-index (data/shard_index.h),
// prints what it indexed and what it skipped, returns the exit code. Throws ConfigError for
// usage errors and a folder without a shard, StorageError when S3 refuses.
int runIndexCommand(const std::vector<std::string>& args);

}  // namespace trainrun::launch
