// Fetching remote input files once per node: the node's first rank fills the cache first.
#pragma once

#include <functional>

#include "distributed/init.h"

namespace trainrun {

// Runs `fetch` on every rank, local rank 0 of each node first and the node's other ranks after
// it has succeeded (then every object is in the node's cache: they only list). A failure on
// local rank 0 is rethrown there and fails the others as a ConfigError naming it. Alone, or
// one rank per node: just `fetch`.
void fetchOnNodeLeaderFirst(DistContext& dist, const std::function<void()>& fetch);

}  // namespace trainrun
