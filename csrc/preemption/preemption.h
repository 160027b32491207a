// A rank's side of a preemption: SIGTERM kept as an event, one agreed stop step, the emergency
// save.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "checkpoint/checkpoint_manager.h"
#include "core/clock.h"
#include "distributed/init.h"
#include "preemption/preempt_file.h"

namespace trainrun {

// Call first in main(), before any thread exists, so every thread inherits the mask: when the
// launcher names a notice file (TRAINRUN_PREEMPT_FILE), blocks SIGTERM in every thread (no
// system call is ever interrupted by it) and starts a thread that takes it: with the agent's
// notice written, the next step boundary handles it (Preemption); without one within 0.5 s it
// ends the rank as SIGTERM always did. Without a notice file, SIGTERM keeps its default action.
void catchSigterm();

class Preemption {
 public:
  // `checkpoints` is null when the run writes no checkpoints.
  Preemption(DistContext& dist, CheckpointManager* checkpoints);

  // At the boundary after `steps_done` steps, called by every rank at every step: true when
  // training stops here. The agent's notice file is the trigger: it exists before any rank
  // gets SIGTERM. When the state must be saved, the ranks agree on one step through the store:
  // each posts the boundary where it first saw the notice and, at each boundary after it,
  // looks (without blocking) for every rank's post; all stop after the largest post + 1,
  // whatever each host's run-ahead and however much later another node's notice came.
  bool stopAfter(int64_t steps_done);

  // Saves the emergency checkpoint when the notice asks for one and it fits before the
  // deadline (rank 0 decides from the measured saves and tells the others through the store),
  // gives the agent rank 0's outcome line, and throws Preempted. `snapshot` captures the
  // state at `steps_done`. A save in flight that does not fit is abandoned uncommitted: the
  // rank exits at once with kExitPreempted rather than wait for it.
  [[noreturn]] void leave(int64_t steps_done, const std::function<CheckpointState()>& snapshot);

  // After a failed collective (`why`), before an elastic rank re-forms the group: when this
  // node has a notice, it is leaving (the others re-form without it), so the rank throws
  // Preempted, with no emergency checkpoint, instead of waiting to be admitted again.
  void leaveIfNoticed(const std::string& why);

 private:
  double secondsLeft() const;
  // One boundary of the agreement on the step to stop at (stopAfter).
  void agree(int64_t steps_done);
  // Reads the notice file once it exists; false while it does not.
  bool noticed();
  // The node's local rank 0 logs `outcome` and hands it to its agent; every rank then throws
  // Preempted.
  [[noreturn]] void exit(int64_t steps_done, const std::string& outcome);
  // The steps of an agreed stop, or why there is nothing to save (rank 0's outcome line).
  std::string emergencySave(int64_t steps_done, const std::function<CheckpointState()>& snapshot);

  DistContext& dist_;
  CheckpointManager* checkpoints_;
  std::string path_;  // the notice file; "" when the launcher gave none
  PreemptNotice notice_;
  int64_t seen_at_ = -1;  // boundary where this rank first saw the notice
  Clock::time_point seen_time_{};
  int64_t stop_at_ = -1;  // the agreed boundary to stop at
  bool agreed_ = true;    // false when the ranks could not agree (then nothing is saved)
};

}  // namespace trainrun
