// The per-node agent: spawns this node's ranks, watches them, and stops them all together.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hang/hang_exchange.h"
#include "launch/exit_status.h"
#include "launch/rank_logs.h"
#include "launch/signal_watch.h"
#include "launch/worker_spec.h"
#include "preemption/node_preemption.h"
#include "preemption/preempt_file.h"

namespace trainrun::launch {

struct RankFailure {
  int rank = 0;
  ExitStatus status;
  // Non-empty when a hang report found the rank stuck and the agent killed it (SIGKILL): why
  // ("stopped by a signal", "did not answer its dump request", ...). A hang is a rank failure.
  std::string hung;
  // What it recorded in its TORCHELASTIC_ERROR_FILE (PyTorch's @record), and that file when
  // it is kept (beside the rank's logs, --log-dir with -r/-t).
  std::string error = {};
  std::string error_file = {};
};

struct AgentOptions {
  // Time between SIGTERM and SIGKILL when stopping ranks.
  std::chrono::milliseconds grace_period{std::chrono::seconds(10)};
  // After SIGKILL, how long to wait for ranks to be reaped before giving up on them (a
  // process in uninterruptible sleep cannot die until its I/O returns).
  std::chrono::milliseconds kill_timeout{std::chrono::seconds(5)};
  // After the last rank exits, how long to wait for its output pipes to reach EOF.
  std::chrono::milliseconds output_drain_timeout{std::chrono::seconds(2)};
  // Multi-node: asked every peer_poll_interval; a non-empty answer (another node's failure)
  // stops this node's ranks as a local failure would.
  std::function<std::string()> peer_failure;
  std::chrono::milliseconds peer_poll_interval{std::chrono::seconds(1)};
  // Told this node's first failing rank, so the other nodes stop too.
  std::function<void(const RankFailure&)> report_failure;
  // Elastic jobs: asked when a rank fails; true = respawn it (same spec) while the other ranks
  // recover in memory, false = the failure stops every rank as usual. The callback keeps the
  // restart budget (--max-restarts) and moves the group's generation on.
  std::function<bool(const RankFailure&)> restart_rank;
  // Called with SIGINT/SIGTERM before the agent stops its ranks (an elastic node says it is
  // leaving, so the others re-form at once).
  std::function<void(int sig)> on_stop_signal;
  // How often the monitor loop looks at the ranks (--monitor-interval); SIGCHLD wakes it sooner.
  std::chrono::milliseconds monitor_interval{100};
  // Hang reports (hang_watch.h), for the built-in worker only; 0: off. When a rank's collective
  // has been open this long, or a rank exits on a collective timeout, every rank is asked for
  // its dump (waiting up to dump_wait) and the report is printed before any rank is stopped or
  // respawned. A rank the report finds stuck (stopped, in uninterruptible sleep, not answering)
  // is SIGKILLed at once, and its end is a rank failure like any other: restart_rank may
  // respawn it while the others re-form the group. Without restart_rank a hang stops the ranks
  // (SIGTERM and the grace period for the healthy ones).
  std::chrono::milliseconds hang_timeout{0};
  std::chrono::milliseconds dump_wait{std::chrono::seconds(5)};
  // Multi-node jobs: hang reports take in every node's ranks through it (not owned; may be null).
  HangExchange* hang_exchange = nullptr;
  // When set, SIGTERM and spot interruption notices are preemptions: the notice file is
  // written before the ranks get SIGTERM, and SIGKILL comes at the notice's deadline.
  NodePreemption* preemption = nullptr;
  // --log-dir/--redirects/--tee/--local-ranks-filter: where each rank stream goes (null: the
  // console, all of them).
  std::shared_ptr<const RankLogs> logs;
};

// How one run of the local ranks ended.
struct AgentResult {
  std::optional<RankFailure> first_failure;  // the first rank that failed on its own
  int received_signal = 0;    // SIGINT/SIGTERM that made the agent stop the ranks, else 0
  std::string peer_failure;   // another node's failure that made the agent stop the ranks
  int restarts = 0;           // ranks respawned (elastic jobs)
  int stopped = 0;            // ranks still running when the agent began stopping them
  int force_killed = 0;       // of those, ranks still running at SIGKILL time
  std::vector<int> unreaped;  // ranks not reaped even kill_timeout after SIGKILL
  std::string hang;           // the hang report's verdict, when the agent printed one
  std::vector<std::string> hung_killed;  // "rank 1 (stopped by a signal)": SIGKILLed at once
  // A hang ended the run: ms from the job's last completed collective to the end (-1: no hang
  // or unknown).
  int64_t hang_cost_ms = -1;
  std::optional<PreemptNotice> preemption;  // the preemption that made the agent stop ranks
  std::string preemption_outcome;           // rank 0's account of it, "" when none
  int stopped_ok = 0;  // of the stopped ranks, those that exited 0 (they had finished)
};

// Runs one set of local ranks to completion. Each rank lives in its own process group and
// dies with the launcher (process.h). Ranks' output goes through an OutputPump with
// "[rank N] " prefixes. The first rank to fail (non-zero exit or a signal the agent did not
// send) stops all remaining ranks: SIGTERM to each group, SIGKILL after the grace period.
// SIGINT/SIGTERM arriving on `signals` does the same, forwarding that signal instead of
// SIGTERM; a second one sends SIGKILL at once. When a rank's
// main process exits, whatever is left in its group is SIGKILLed, so no descendant outlives
// its rank. Must run on the main thread (see spawnInOwnGroup). Throws Error if a rank cannot
// be spawned, after stopping the ones already started.
class LocalAgent {
 public:
  LocalAgent(AgentOptions options, SignalWatch& signals) : options_(options), signals_(signals) {}
  AgentResult run(const std::vector<RankSpec>& ranks);

 private:
  AgentOptions options_;
  SignalWatch& signals_;
};

}  // namespace trainrun::launch
