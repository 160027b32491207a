// ShardListings: list, check, save into a private folder, and name it in the ranks' environment.
#include "launch/shard_listings.h"

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "core/env.h"
#include "core/logging.h"
#include "core/temp_dir.h"
#include "data/shard_listing.h"
#include "data/token_windows.h"

namespace trainrun::launch {

ShardListings::ShardListings(const config::JobConfig& config) {
  const auto& d = config.data();
  if (d.name() != "tokens") return;
  std::vector<std::pair<std::string, ShardManifest>> listed;
  for (const std::string& path : {d.path(), d.validation_path()}) {
    if (path.empty()) continue;
    ShardManifest manifest = buildManifest(*openJobShardSource(config, path, 0));
    manifest.source = path;
    WindowIndex(manifest, uint64_t(config::blockSize(config)));  // every shard holds a window
    listed.emplace_back(path, std::move(manifest));
  }
  dir_ = makeTempDir("trainrun-shards-");
  if (dir_.empty()) {
    const std::string why = std::strerror(errno);
    log::warn("each rank lists the token shards itself: cannot create a folder like " + tempBase() +
              "/trainrun-shards-XXXXXX: " + why + " (set TMPDIR)");
    return;
  }
  for (const auto& [path, manifest] : listed) saveShardListing(dir_, path, manifest);
  ::setenv(env::kShardListings, dir_.c_str(), 1);  // the ranks inherit it
}

ShardListings::~ShardListings() {
  if (dir_.empty()) return;
  ::unsetenv(env::kShardListings);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace trainrun::launch
