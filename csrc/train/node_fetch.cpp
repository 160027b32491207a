// The node's first rank fetches remote input files before the node's other ranks.
#include "train/node_fetch.h"

#include <exception>
#include <string>

#include "core/error.h"
#include "store/store_keys.h"

namespace trainrun {

void fetchOnNodeLeaderFirst(DistContext& dist, const std::function<void()>& fetch) {
  if (!dist.store || dist.local_world_size == 1) {
    fetch();
    return;
  }
  // Ranks of a node are numbered consecutively: the node's first rank names it.
  const std::string key = tableFetchedKey(dist.rank - dist.local_rank);
  if (dist.local_rank == 0) {
    try {
      fetch();
    } catch (const std::exception& e) {
      dist.store->set(key, std::string("failed: ") + e.what());
      throw;
    }
    dist.store->set(key, "ok");
    return;
  }
  dist.store->wait({key});  // bounded by dist.timeout_s
  const std::string status = dist.store->get(key);
  if (status != "ok")
    throw ConfigError("local rank 0 could not fetch the data (" + status.substr(8) + ")");
  fetch();  // every object is in the cache now: listing only
}

}  // namespace trainrun
