// Elastic jobs: which failed ranks the agent respawns, and the generation that makes room.
#pragma once

#include "launch/agent.h"
#include "store/store.h"

namespace trainrun::launch {

// The agent's restart_rank callback for an elastic job: restarts failed ranks while this
// node's budget (--max-restarts) lasts. Before a respawn it ends the generation the rank was
// in (store/generation.h), so the surviving ranks abort their collectives at once, keep
// their state and re-form the group, which the new rank joins to receive that state. A rank
// killed as hung (failure.hung) ends the generation the others gather in now as well. A rank
// that exited with code 2 (a config or data error, a diverged run) is not restarted: it would
// fail the same way.
class RankRestarts {
 public:
  // `store`: the ranks' (their key prefix); ranks of this node are node_id x nproc + local.
  RankRestarts(Store& store, int max_restarts, int node_id, int nproc_per_node)
      : store_(store),
        max_restarts_(max_restarts),
        node_id_(node_id),
        nproc_per_node_(nproc_per_node) {}
  // True: respawn `failure.rank`. Prints one line either way.
  bool operator()(const RankFailure& failure);

 private:
  Store& store_;
  const int max_restarts_;
  const int node_id_, nproc_per_node_;
  int used_ = 0;
};

}  // namespace trainrun::launch
