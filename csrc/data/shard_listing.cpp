// A job's shard sources; listings in a launcher's folder, one file per data path, named by the
// path's digest.
#include "data/shard_listing.h"

#include "core/digest.h"
#include "core/env.h"
#include "core/file.h"
#include "data/s3_shard_source.h"

namespace trainrun {
namespace {

std::string listingFile(const std::string& dir, const std::string& data_path) {
  return dir + "/" + sha256Hex(data_path).substr(0, 32) + ".manifest";
}

}  // namespace

std::unique_ptr<ShardSource> openJobShardSource(const config::JobConfig& config,
                                                const std::string& path, uint64_t vocab) {
  const auto& d = config.data();
  const ShardFormatSpec spec = shardFormatSpec(d.token_format(), d.token_dtype());
  if (path.rfind("s3://", 0) != 0) return openLocalShardSource(path, spec, vocab);
  S3ShardCacheOptions cache;
  cache.limit_bytes = static_cast<uint64_t>(d.cache_limit_gb() * double(1ull << 30));
  cache.endpoint = config.checkpoint().s3_endpoint();
  return openS3ShardSource(path, spec, vocab, cache);
}

void saveShardListing(const std::string& dir, const std::string& data_path,
                      const ShardManifest& manifest) {
  writeFileAtomic(listingFile(dir, data_path), manifestToText(manifest));
}

std::optional<ShardManifest> launcherShardListing(const std::string& data_path) {
  const std::string dir = env::get(env::kShardListings);
  if (dir.empty()) return std::nullopt;
  const std::string file = listingFile(dir, data_path);
  const std::optional<std::string> text = readWholeFile(file);
  if (!text) return std::nullopt;
  ShardManifest manifest = manifestFromText(*text, "the launcher's listing " + file);
  manifest.source = data_path;
  return manifest;
}

}  // namespace trainrun
