// Whether an emergency checkpoint fits before a preemption's deadline, from measured saves.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace trainrun {

// Rank 0's view at the step where training stops.
struct SaveBudget {
  int64_t step = 0;                         // the step a new checkpoint would hold
  double seconds_left = 0;                  // until the deadline (the agent's SIGKILL)
  std::optional<double> last_save_seconds;  // snapshot to commit of the newest completed save
  uint64_t state_bytes = 0;                 // all ranks' state, for the estimate without one
  int world_size = 1;                       // ranks write their 1/N in parallel
  int64_t inflight_step = -1;               // a save in flight (-1: none) ...
  double inflight_seconds = 0;              // ... and how long since its snapshot began
  int64_t committed_step = -1;              // newest committed checkpoint (-1: none)
};

struct SavePlan {
  bool wait_inflight = false;   // let the save in flight commit
  bool save = false;            // then save `step`
  double estimate_seconds = 0;  // one save
  // How the estimate was made: "the last save took 0.41 s", or "no save measured yet:
  // 1.2 GB at a conservative 50 MB/s per rank, about 13 s".
  std::string basis;
  // When the state at `step` will not be committed: why, for the warning after "not saving
  // an emergency checkpoint: " (it names the step the run resumes from).
  std::string why_not;
};

// A save fits when its estimate, with a 25% margin, and 1 s more for the ranks to exit, is
// within seconds_left; the save in flight counts first. Never plans what cannot finish: a
// checkpoint that the deadline cuts short is torn (never committed, but its time is lost).
SavePlan planEmergencySave(const SaveBudget& budget);

// "0.003 s", "0.05 s", "1.2 s", "41 s": seconds for messages, about two significant digits.
std::string formatSeconds(double seconds);

}  // namespace trainrun
