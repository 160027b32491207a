// A node's preemptions (SIGTERM, spot notices): the notice file its ranks read, their outcome.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "core/preempt_file.h"
#include "launch/spot_notice.h"

namespace trainrun::launch {

// Owned by main(), used by the agent. The agent writes the notice (deadline, reason, save)
// with announce() before it SIGTERMs the ranks, so a rank that sees the signal always finds
// the notice; rank 0 answers with one line that the summary carries.
class NodePreemption {
 public:
  // Makes a private folder (mkdtemp under $TMPDIR or /tmp) for the notice file, and starts a
  // SpotNoticeWatcher when spotWatchEndpoint() names a service. `save`: this node's ranks hold
  // state that exists nowhere else, so they write an emergency checkpoint if it fits: true
  // for a single-node job. With several nodes the others hold the same replicas; elastic
  // membership decides when every node is leaving at once.
  NodePreemption(bool save, const std::string& fs_root);
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
  bool save_;
  std::string dir_, path_;
  std::unique_ptr<SpotNoticeWatcher> watcher_;
};

}  // namespace trainrun::launch
