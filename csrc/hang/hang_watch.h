// The agent's side of hang reports: a private dump folder, stall checks, gathering the dumps.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "hang/hang_report.h"

namespace trainrun::launch {

class HangExchange;

// A rank of this node that a hang report found unable to act on SIGTERM (hang_report.h's
// stuckReason): the agent kills it at once.
struct StuckRank {
  int rank = 0;
  pid_t pid = 0;
  std::string why;  // "stopped by a signal", "did not answer its dump request", ...
};

// Used by LocalAgent on its own thread. With hang_timeout 0 it does nothing at all: no folder,
// no environment, no signals (a `-- COMMAND` worker would die of SIGUSR2).
class HangWatch {
 public:
  // Makes the dump folder: $TRAINRUN_DUMP_DIR when the launcher has it (kept), else a private
  // one under $TMPDIR (removed at the end unless it holds a report). A folder that cannot be
  // made is one warning, and hang reports are off.
  HangWatch(std::chrono::milliseconds hang_timeout, std::chrono::milliseconds dump_wait);
  ~HangWatch();
  HangWatch(const HangWatch&) = delete;
  HangWatch& operator=(const HangWatch&) = delete;

  // `env` with TRAINRUN_DUMP_DIR when on.
  std::vector<std::string> rankEnv(std::vector<std::string> env) const;
  // A rank's process, at start or when it is respawned.
  void add(int rank, pid_t pid);

  // Non-empty, saying what it saw, once some rank's oldest open collective has been open for
  // hang_timeout, or (elastic jobs) a rank has been re-forming the group with no collective
  // completed for hang_timeout (and for hang_timeout since the last report ended: a group
  // re-forming around a rank the report restarted is not a new hang until then): its own
  // deadline already failed the collective the stuck rank never joined (heartbeats read at
  // most every 0.5 s).
  std::string stall();
  // True when `rank` wrote a dump as it ended: it timed out in a collective (a hang), also
  // when the last report (or answer to another node) already took that dump.
  bool leftDump(int rank) const;

  // Multi-node jobs: reports gather every node's ranks through `exchange` (not owned; may be
  // null: this node's ranks only).
  void setExchange(HangExchange* exchange) { exchange_ = exchange; }
  // Called with this node's stuck ranks as soon as their stacks are in the evidence: after this
  // node printed its report, or after it sent its evidence for another node's. Not called when
  // none is stuck.
  void setOnStuck(std::function<void(const std::vector<StuckRank>&)> on_stuck) {
    on_stuck_ = std::move(on_stuck);
  }
  // After a report (this node's, or its answer to another's): once one of this node's ranks has
  // stepped past the hang, how long the hang cost (ms from the job's last completed collective
  // to now; -1: unknown); nullopt before that, and after it was said once. Looks at most every
  // 0.5 s.
  std::optional<int64_t> resumed();
  // The job's last completed collective before the last hang (Unix ms; 0: no hang or unknown).
  int64_t lastCompletedMs() const { return last_done_ms_; }

  // Asks every live rank that heartbeats for its dump (kDumpRequestSignal), runs gdb itself on
  // ranks that cannot answer (stopped), waits up to dump_wait, then runs gdb (up to dump_wait
  // more) on running ranks that did not answer, prints the table and the
  // culprits' stacks on stderr, writes all dumps to one file and prints its path. With an
  // exchange, the other nodes' ranks are in the table too; when another node claimed this hang
  // first, this node sends its evidence there and returns that node's verdict instead. Returns
  // the report's one-line verdict ("" when off). `why` says what started it. Until some rank
  // has stepped past the last report it only returns that one's verdict: one hang, one report
  // (an elastic job's ranks time out one after another in it). Then hands this node's stuck
  // ranks to on_stuck.
  std::string report(const std::string& why);
  // With an exchange: answers another node's request for this node's evidence, if one is
  // waiting (looked for at most every 0.5 s). Called from the agent's loop.
  void answerPeers();

 private:
  bool on() const { return !dir_.empty(); }
  int64_t maxStep() const;  // the highest step in the ranks' heartbeats
  // Signals this node's ranks for their dumps and waits for them (up to dump_wait).
  std::vector<RankEvidence> gatherLocal();
  // This node's ranks in `evidence` that cannot act on SIGTERM, to on_stuck_.
  void reportStuck(const std::vector<RankEvidence>& evidence);
  // After a report or an answer: the dumps are taken; a later hang starts from a clean folder.
  void consumed(const std::vector<RankEvidence>& evidence, const std::string& verdict);
  // How long the reporting node waits for the others' answers, and they for its verdict.
  Clock::time_point collectDeadline() const;
  Clock::time_point verdictDeadline() const;
  // Sends this node's evidence for another node's request; returns that node's verdict.
  std::string answer(int64_t id, int node, const std::string& why, bool wait_for_verdict);

  const std::chrono::milliseconds hang_timeout_;
  const std::chrono::milliseconds dump_wait_;
  std::string dir_;
  bool private_dir_ = false;
  bool kept_ = false;  // the folder holds a report: not removed
  std::vector<std::pair<int, pid_t>> ranks_;
  Clock::time_point next_check_{};
  int reports_ = 0;
  int64_t last_max_step_ = -1;  // the highest step the last report saw
  std::string last_verdict_;
  HangExchange* exchange_ = nullptr;
  Clock::time_point next_peer_check_{};
  std::vector<int> exit_dumps_taken_;  // ranks whose exit dumps (isExitDump) the last report took
  int64_t answered_id_ = 0;  // the other node's request the last report answered (0: none)
  std::function<void(const std::vector<StuckRank>&)> on_stuck_;
  int64_t last_done_ms_ = 0;      // lastCompletedMs(): of the last report's evidence
  bool awaiting_resume_ = false;  // a hang was reported; resumed() has not said it is over
  // The re-forming rule's clock starts no earlier than this (Unix ms): the end of the last
  // report, or the moment the job was seen stepping past it. The group a report's kill and
  // restart leave behind re-forms from then, so it gets its own hang_timeout to do so.
  int64_t quiet_from_ms_ = 0;
  Clock::time_point next_resume_check_{};
};

}  // namespace trainrun::launch
