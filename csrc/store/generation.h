// Group generations: the store's counter that every rank and agent agrees on re-forming by.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/store.h"
#include "store/store_keys.h"  // the generation keys: arrivedKey, endedKey, planKey, ...

namespace trainrun {

// An elastic job's ranks form one communicator per generation. Generation 0 is the first;
// whoever sees the current group fail (an agent whose rank died, a rank whose collective
// failed) moves the counter on, and every rank leaves its communicator and joins the next.
// The counter and each generation's keys live under "elastic/" in the ranks' store (the
// launcher's prefix applies): store/store_keys.h names them. A rank records which generation
// it is in by node id and local rank (kept while its global rank changes; its agent moves that
// generation on when it dies).

// The current generation (0 before anyone moved it).
int64_t currentGeneration(Store& store);

// Moves the counter from `from` to from + 1, unless someone already moved it past `from`;
// returns the generation current afterwards. Safe to call from every rank and agent at once:
// one failure makes one new generation.
int64_t advanceGeneration(Store& store, int64_t from);

// Which nodes form a generation when nodes come and go (--nnodes MIN:MAX), written by the
// launcher that hosts the store before it moves the counter on. Node ids are the launchers'
// (GROUP_RANK); a node's ranks are its index in `nodes` x nproc + LOCAL_RANK.
struct GroupPlan {
  int nproc = 1;
  std::vector<int> nodes;
  int worldSize() const { return nproc * static_cast<int>(nodes.size()); }
  // The first global rank of node `id`, or -1 if it is not a member.
  int firstRank(int id) const;
};
std::string formatPlan(const GroupPlan& plan);  // "nproc id id ..."
GroupPlan parsePlan(const std::string& text);
// The plan of `generation`, else of the newest generation before it that has one; nullopt
// when no generation has one (a fixed set of nodes: RANK and WORLD_SIZE hold).
std::optional<GroupPlan> latestPlan(Store& store, int64_t generation);

}  // namespace trainrun
