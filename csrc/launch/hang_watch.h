// The agent's side of hang reports: a private dump folder, stall checks, gathering the dumps.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "launch/hang_report.h"

namespace trainrun::launch {

class HangExchange;

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
  // hang_timeout (heartbeats read at most every 0.5 s).
  std::string stall();
  // True when `rank` wrote a dump as it ended: it timed out in a collective (a hang), also
  // when the last report (or answer to another node) already took that dump.
  bool leftDump(int rank) const;

  // Multi-node jobs: reports gather every node's ranks through `exchange` (not owned; may be
  // null: this node's ranks only).
  void setExchange(HangExchange* exchange) { exchange_ = exchange; }

  // Asks every live rank that heartbeats for its dump (kDumpRequestSignal), runs gdb itself on
  // ranks that cannot answer (stopped), waits up to dump_wait, prints the table and the
  // culprits' stacks on stderr, writes all dumps to one file and prints its path. With an
  // exchange, the other nodes' ranks are in the table too; when another node claimed this hang
  // first, this node sends its evidence there and returns that node's verdict instead. Returns
  // the report's one-line verdict ("" when off). `why` says what started it. Until some rank
  // has stepped past the last report it only returns that one's verdict: one hang, one report
  // (an elastic job's ranks time out one after another in it).
  std::string report(const std::string& why);
  // With an exchange: answers another node's request for this node's evidence, if one is
  // waiting (looked for at most every 0.5 s). Called from the agent's loop.
  void answerPeers();

 private:
  bool on() const { return !dir_.empty(); }
  int64_t maxStep() const;  // the highest step in the ranks' heartbeats
  // Signals this node's ranks for their dumps and waits for them (up to dump_wait).
  std::vector<RankEvidence> gatherLocal();
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
};

}  // namespace trainrun::launch
