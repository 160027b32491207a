// Group generations: the store's counter that every rank and agent agrees on re-forming by.
#pragma once

#include <cstdint>
#include <string>

#include "distributed/store.h"

namespace trainrun {

// An elastic job's ranks form one communicator per generation. Generation 0 is the first;
// whoever sees the current group fail (an agent whose rank died, a rank whose collective
// failed) moves the counter on, and every rank leaves its communicator and joins the next.
// The counter lives under "elastic/" in the ranks' store (the launcher's prefix applies).

// The current generation (0 before anyone moved it).
int64_t currentGeneration(Store& store);

// Moves the counter from `from` to from + 1, unless someone already moved it past `from`;
// returns the generation current afterwards. Safe to call from every rank and agent at once:
// one failure makes one new generation.
int64_t advanceGeneration(Store& store, int64_t from);

// Keys of one generation: ranks count in under arrivedKey; a rank records which generation it
// is in under rankGenerationKey (so its agent knows which one to move on when it dies), and why
// a generation ended under endedKey.
std::string arrivedKey(int64_t generation);
std::string rankGenerationKey(int rank);
std::string endedKey(int64_t generation);
// What re-forming into `generation` cost: "step world_size lost_steps recovery_ms", written by
// the rank whose state the others took, read back for metrics.json.
std::string recoveryKey(int64_t generation);

}  // namespace trainrun
