// Elastic jobs: which failed ranks the agent respawns, and the generation that makes room.
#pragma once

#include "distributed/store.h"
#include "launch/agent.h"

namespace trainrun::launch {

// The agent's restart_rank callback for an elastic job: restarts failed ranks while this
// node's budget (--max-restarts) lasts. Before a respawn it ends the generation the rank was
// in (distributed/generation.h), so the surviving ranks abort their collectives at once, keep
// their state and re-form the group, which the new rank joins to receive that state.
class RankRestarts {
 public:
  RankRestarts(Store& store, int max_restarts) : store_(store), max_restarts_(max_restarts) {}
  // True: respawn `failure.rank`. Prints one line either way.
  bool operator()(const RankFailure& failure);

 private:
  Store& store_;
  const int max_restarts_;
  int used_ = 0;
};

}  // namespace trainrun::launch
