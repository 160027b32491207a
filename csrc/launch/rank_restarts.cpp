// RankRestarts: the restart budget and ending the failed rank's generation.
#include "launch/rank_restarts.h"

#include <unistd.h>

#include <exception>
#include <string>

#include "core/file.h"
#include "store/generation.h"

namespace trainrun::launch {

bool RankRestarts::operator()(const RankFailure& failure) {
  const std::string who = "rank " + std::to_string(failure.rank);
  const std::string what =
      failure.hung.empty() ? who + " failed (" + failure.status.describe() + ")"
                           : who + " hung (" + failure.hung + ") and was killed by the launcher";
  // Exit code 2 is a config, data or divergence error: a restarted rank fails the same way.
  if (failure.hung.empty() && !failure.status.signaled && failure.status.code == 2) {
    writeLine(STDERR_FILENO, "trainrun: " + what +
                                 ": a config, data or divergence error, which a restart repeats: "
                                 "stopping the job");
    return false;
  }
  if (used_ >= max_restarts_) {
    writeLine(STDERR_FILENO, "trainrun: " + what + "; no restarts left (--max-restarts " +
                                 std::to_string(max_restarts_) + "): stopping the job");
    return false;
  }
  try {
    // A rank that never joined a generation is simply awaited by the others' gathering.
    const std::string key = memberGenerationKey(node_id_, failure.rank % nproc_per_node_);
    if (store_.check({key})) {
      const int64_t generation = std::stoll(store_.get(key));
      store_.compareSet(endedKey(generation), "", what);
      advanceGeneration(store_, generation);
    }
    // A hung rank is found only after the others' deadline failed their collective: they may
    // gather in the next generation already, on a deadline that started then. End that one
    // too, so they wait for the respawned rank with a whole dist.timeout_s (elastic.h).
    if (!failure.hung.empty()) {
      const int64_t current = currentGeneration(store_);
      store_.compareSet(endedKey(current), "", what);
      advanceGeneration(store_, current);
    }
  } catch (const std::exception& e) {
    writeLine(STDERR_FILENO, "trainrun: " + what + "; cannot re-form the group (" + e.what() +
                                 "): stopping the job");
    return false;
  }
  ++used_;
  writeLine(STDERR_FILENO, "trainrun: " + what + "; restarting it (restart " +
                               std::to_string(used_) + " of " + std::to_string(max_restarts_) +
                               "); the other ranks keep their state and re-form the group");
  return true;
}

}  // namespace trainrun::launch
