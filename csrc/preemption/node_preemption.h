// A node's preemptions (SIGTERM, spot notices): the notice file its ranks read, their outcome.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "preemption/preempt_file.h"
#include "preemption/spot_notice.h"

namespace trainrun::launch {

// Owned by main(), used by the agent. The agent writes the notice (deadline, reason, save)
// with announce() before it SIGTERMs the ranks, so a rank that sees the signal always finds
// the notice; rank 0 answers with one line that the summary carries.
class NodePreemption {
 public:
  // Whether this node's ranks, when they leave, take state that exists nowhere else (so they
  // write an emergency checkpoint if it fits); asked when a preemption comes. A single-node
  // job: always. With several nodes: when every node is leaving at once, which the elastic
  // membership knows (it can ask the others and answer here).
  // `deadline` is the preemption's (it bounds any waiting for the others).
  using StateOnlyHere = std::function<bool(std::chrono::system_clock::time_point deadline)>;

  // Makes a private folder (mkdtemp under $TMPDIR or /tmp) for the notice file, and starts a
  // SpotNoticeWatcher when spotWatchEndpoint() names a service.
  NodePreemption(StateOnlyHere state_only_here, const std::string& fs_root);
  ~NodePreemption();  // removes the folder, stops the watcher
  NodePreemption(const NodePreemption&) = delete;
  NodePreemption& operator=(const NodePreemption&) = delete;

  // "TRAINRUN_PREEMPT_FILE=<path>", for every rank's environment.
  std::string envEntry() const;
  // A spot interruption notice once the watcher has seen one; never blocks.
  std::optional<PreemptNotice> spotNotice();
  // SIGTERM's notice: the deadline is `grace` from now (then the agent SIGKILLs).
  PreemptNotice sigtermNotice(std::chrono::milliseconds grace) const;
  // Writes `notice` atomically for the ranks; a failure is a warning (ranks then stop by
  // SIGTERM's default action, as without this file).
  void announce(const PreemptNotice& notice);
  // Rank 0's line ("emergency checkpoint committed at step 812 ..."), "" when none.
  std::string outcome() const;

 private:
  StateOnlyHere state_only_here_;
  std::string dir_, path_;
  std::unique_ptr<SpotNoticeWatcher> watcher_;
};

}  // namespace trainrun::launch
