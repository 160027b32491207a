// LocalAgent: spawn, a signalfd-driven waitid() loop with deadlines, group-wide stops.
#include "launch/agent.h"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <exception>
#include <map>
#include <sstream>

#include "core/clock.h"
#include "core/env.h"
#include "core/error_file.h"
#include "core/file.h"
#include "hang/hang_watch.h"
#include "launch/output_pump.h"
#include "launch/process.h"
#include "launch/rank_logs.h"

namespace trainrun::launch {
namespace {

std::string seconds(std::chrono::milliseconds ms) {
  std::ostringstream s;
  s << static_cast<double>(ms.count()) / 1000.0;
  return s.str();
}

// "12.3 s".
std::string tenths(int64_t ms) {
  return std::to_string(ms / 1000) + "." + std::to_string(ms % 1000 / 100) + " s";
}

// stuckReason()'s words after "it": "is stopped by a signal", "did not answer its dump request".
std::string itIs(const std::string& why) { return why.rfind("did ", 0) == 0 ? why : "is " + why; }

// One run of the local ranks, one method per phase: spawn them, then each round of the monitor
// loop waits for a signal or the next deadline, takes stop signals, reaps the ranks that exited
// and answers their failures, looks for hangs, asks about the other nodes and spot notices, and
// enforces the stop's deadlines.
class AgentRun {
 public:
  AgentRun(const AgentOptions& options, SignalWatch& signals, const std::vector<RankSpec>& ranks)
      : options_(options),
        signals_(signals),
        ranks_(ranks),
        hangs_(options.hang_timeout, options.dump_wait) {
    hangs_.setExchange(options_.hang_exchange);
  }

  AgentResult run() {
    spawnAll();
    // A hang report's stuck ranks: SIGKILL at once (their stacks are taken); each one's end is
    // then a rank failure like any other, which restart_rank may answer with a respawn.
    hangs_.setOnStuck([this](const std::vector<StuckRank>& stuck) { killStuck(stuck); });
    if (spawn_error_) {
      stopping_ = true;
      killAll();
    }
    next_peer_poll_ = Clock::now() + options_.peer_poll_interval;
    while (live() > 0) {
      waitForEvent();
      takeStopSignals();
      answerExits(reapExited());
      // Another node's hang report wants this node's stacks, even while its ranks stop.
      if (!killed_) hangs_.answerPeers();
      if (!stopping_) watchForStall();
      if (hang_open_) noteHangOver();
      if (!stopping_ && options_.peer_failure) pollPeers();
      if (!stopping_ && options_.preemption) watchSpotNotice();
      if (!enforceDeadlines()) break;
    }
    return finish();
  }

 private:
  struct RunningRank {
    int rank;
    pid_t pid;  // also the process group id
    bool done = false;
  };

  pid_t spawn(const RankSpec& spec) {
    std::vector<std::string> rank_env = hangs_.rankEnv(spec.env);
    const int attempt = spawns_[spec.rank]++;  // its log folder: attempt_0, then one per restart
    StreamRoute out, err;
    std::string& error_file = error_files_[spec.rank];
    error_file.clear();
    if (options_.logs) {
      out = options_.logs->route(spec.local_rank, attempt, kStdOut);
      err = options_.logs->route(spec.local_rank, attempt, kStdErr);
      error_file = options_.logs->errorFile(spec.local_rank, attempt);
    }
    if (!error_file.empty()) setVar(rank_env, env::kErrorFile, error_file);
    // Its log files before it runs: one that cannot be made stops it from starting.
    int out_file = -1, err_file = -1;
    ChildProcess child;
    try {
      out_file = RankLogs::openFile(out);
      err_file = RankLogs::openFile(err);
      child = spawnInOwnGroup(spec.argv, rank_env);
    } catch (...) {
      for (int fd : {out_file, err_file})
        if (fd >= 0) ::close(fd);
      throw;
    }
    hangs_.add(spec.rank, child.pid);
    const std::string prefix = "[rank " + std::to_string(spec.rank) + "] ";
    pump_.add(child.stdout_fd, out.console ? STDOUT_FILENO : -1, prefix, out_file);
    pump_.add(child.stderr_fd, err.console ? STDERR_FILENO : -1, prefix, err_file);
    return child.pid;
  }

  // Spawns every rank (stopping at the first that cannot be), then starts the output pump.
  void spawnAll() {
    for (const auto& spec : ranks_) {
      try {
        procs_.push_back(RunningRank{spec.rank, spawn(spec)});
      } catch (...) {
        spawn_error_ = std::current_exception();
        break;
      }
    }
    pump_.start();
  }

  void killStuck(const std::vector<StuckRank>& stuck) {
    hang_open_ = true;
    for (const StuckRank& s : stuck) {
      auto proc = std::find_if(procs_.begin(), procs_.end(),
                               [&](const RunningRank& p) { return p.rank == s.rank; });
      if (proc == procs_.end() || proc->done || proc->pid != s.pid || hung_.count(s.rank)) continue;
      signalGroup(s.pid, SIGKILL);
      hung_[s.rank] = s.why;
      result_.hung_killed.push_back("rank " + std::to_string(s.rank) + " (" + s.why + ")");
      writeLine(STDERR_FILENO, "trainrun: hang: killed rank " + std::to_string(s.rank) + " (pid " +
                                   std::to_string(s.pid) + ") with SIGKILL at once: it " +
                                   itIs(s.why) + ", so SIGTERM and a grace period cannot stop it");
    }
  }

  int live() const {
    return static_cast<int>(
        std::count_if(procs_.begin(), procs_.end(), [](const RunningRank& p) { return !p.done; }));
  }
  void signalLive(int sig) {
    for (const auto& p : procs_) {
      if (!p.done) signalGroup(p.pid, sig);
    }
  }
  void killAll() {
    result_.force_killed = live();
    signalLive(SIGKILL);
    killed_ = true;
    give_up_at_ = Clock::now() + options_.kill_timeout;
  }
  void beginStop(int sig) {
    stopping_ = true;
    result_.stopped = live();
    signalLive(sig);
    kill_at_ = Clock::now() + options_.grace_period;
  }
  void preempt(const PreemptNotice& notice) {  // the notice first, then the signal
    result_.preemption = notice;
    options_.preemption->announce(notice);
    beginStop(SIGTERM);
    kill_at_ = Clock::now() + std::max(notice.deadline - std::chrono::system_clock::now(),
                                       std::chrono::system_clock::duration::zero());
  }

  // Until a signal arrives (SIGCHLD included) or monitor_interval passes; while stopping, no
  // later than the time to SIGKILL.
  void waitForEvent() {
    auto wait = options_.monitor_interval;
    if (stopping_ && !killed_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(kill_at_ - Clock::now());
      wait = std::clamp(left, std::chrono::milliseconds(0), options_.monitor_interval);
    }
    pollfd pfd{signals_.fd(), POLLIN, 0};
    ::poll(&pfd, 1, static_cast<int>(wait.count()));
  }

  void takeStopSignals() {
    for (int sig : signals_.take()) {
      if (sig != SIGINT && sig != SIGTERM) continue;  // SIGCHLD only wakes us
      if (!stopping_) {
        result_.received_signal = sig;
        if (options_.on_stop_signal) options_.on_stop_signal(sig);
        writeLine(STDERR_FILENO, "trainrun: got " + signalName(sig) + "; stopping " +
                                     std::to_string(live()) + " rank(s) (SIGKILL after " +
                                     seconds(options_.grace_period) + " s; repeat to kill now)");
        if (sig == SIGTERM && options_.preemption)
          preempt(options_.preemption->sigtermNotice(options_.grace_period));
        else
          beginStop(sig);  // forwarded as is: SIGINT lets a Python worker raise KeyboardInterrupt
      } else if (!killed_) {
        killAll();
      }
    }
  }

  // A rank that exited: its status and, when the agent killed it as hung, why ("": not).
  struct Exit {
    int rank;
    ExitStatus status;
    std::string hung;
  };

  // Reaps every rank whose main process has exited. WNOWAIT keeps it a zombie while we
  // SIGKILL the rest of its group: the zombie pins the group id, so the signal cannot
  // reach a stranger that reused the number.
  std::vector<Exit> reapExited() {
    std::vector<Exit> exited;
    for (auto& p : procs_) {
      if (p.done) continue;
      siginfo_t info{};
      if (::waitid(P_PID, static_cast<id_t>(p.pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
          info.si_pid != p.pid) {
        continue;
      }
      signalGroup(p.pid, SIGKILL);
      int status = 0;
      ::waitpid(p.pid, &status, WNOHANG);  // a zombie: returns at once
      p.done = true;
      exited.push_back(Exit{p.rank, ExitStatus::fromWaitStatus(status), ""});
    }
    for (Exit& e : exited) {
      result_.stopped_ok += stopping_ && e.status.ok();
      auto h = hung_.find(e.rank);
      if (h == hung_.end()) continue;
      e.hung = h->second;
      hung_.erase(h);
    }
    return exited;
  }

  // Before any stop: the first rank that failed is respawned (elastic jobs, restart_rank) or
  // stops every rank and is told to the other nodes.
  void answerExits(const std::vector<Exit>& exited) {
    if (stopping_) return;
    for (const Exit& e : exited) {
      if (e.status.ok()) continue;
      // It timed out in a collective: report before anything is stopped or respawned.
      const std::string hang =
          hangs_.leftDump(e.rank)
              ? hangs_.report("rank " + std::to_string(e.rank) + " timed out in a collective")
              : "";
      if (!hang.empty()) hang_open_ = true;
      // Its recorded error, and the file with the traceback when that file is kept.
      const std::string& error_file = error_files_[e.rank];
      const bool kept = options_.logs && !options_.logs->runDir().empty();
      const RankFailure failure{e.rank, e.status, e.hung, readErrorFile(error_file),
                                kept ? error_file : std::string()};
      if (options_.restart_rank && options_.restart_rank(failure) && respawn(failure)) continue;
      result_.first_failure = failure;
      if (!hang.empty()) result_.hang = hang;
      beginStop(SIGTERM);  // first: reporting may take seconds (it looks for a dead peer)
      if (options_.report_failure) options_.report_failure(*result_.first_failure);
      return;
    }
  }

  // The failed rank again, with the same spec; false when it cannot be spawned (the run then
  // ends as when that fails at start-up).
  bool respawn(const RankFailure& failure) {
    const int rank = failure.rank;
    auto spec = std::find_if(ranks_.begin(), ranks_.end(),
                             [rank](const RankSpec& r) { return r.rank == rank; });
    auto proc = std::find_if(procs_.begin(), procs_.end(),
                             [rank](const RunningRank& p) { return p.rank == rank; });
    try {
      proc->pid = spawn(*spec);
      proc->done = false;
      ++result_.restarts;
      if (!failure.hung.empty()) hung_restarted_.push_back(rank);
      return true;
    } catch (...) {
      spawn_error_ = std::current_exception();
      return false;
    }
  }

  // A collective open past hang_timeout: the report (which kills the stuck ranks, above).
  void watchForStall() {
    const std::string stall = hangs_.stall();
    if (stall.empty()) return;
    const std::string verdict = hangs_.report(stall);
    if (!verdict.empty()) hang_open_ = true;
    // Elastic jobs: a killed rank's end is a failure restart_rank answers; elsewhere (not
    // stuck, another node's) the ranks' own deadlines start recovery.
    if (options_.restart_rank) return;
    result_.hang = verdict;
    // A rank killed as stuck: its end (next) is the failure that stops the others and tells
    // the other nodes; else the hang itself stops them.
    if (hung_.empty()) beginStop(SIGTERM);
  }

  // The job stepped past the open hang: say so, and what it cost.
  void noteHangOver() {
    const std::optional<int64_t> cost = hangs_.resumed();
    if (!cost) return;
    std::string done;
    for (int rank : hung_restarted_)
      done += "rank " + std::to_string(rank) + " was killed and restarted; ";
    writeLine(
        STDERR_FILENO,
        "trainrun: hang over: " + done + "the job stepped on" +
            (*cost >= 0 ? ", " + tenths(*cost) + " after its last completed collective" : ""));
    hang_open_ = false;
    hung_restarted_.clear();
  }

  // Another node's failure stops this node's ranks (asked every peer_poll_interval).
  void pollPeers() {
    if (Clock::now() < next_peer_poll_) return;
    next_peer_poll_ = Clock::now() + options_.peer_poll_interval;
    std::string why = options_.peer_failure();
    if (why.empty()) return;
    result_.peer_failure = why;
    writeLine(STDERR_FILENO, "trainrun: " + why + "; stopping " + std::to_string(live()) +
                                 " rank(s) on this node");
    beginStop(SIGTERM);
  }

  void watchSpotNotice() {
    std::optional<PreemptNotice> notice = options_.preemption->spotNotice();
    if (!notice) return;
    if (options_.on_stop_signal) options_.on_stop_signal(SIGTERM);  // leaving, as on SIGTERM
    preempt(*notice);
    writeLine(STDERR_FILENO, "trainrun: " + notice->reason + "; stopping " +
                                 std::to_string(live()) + " rank(s) (SIGKILL then, in " +
                                 seconds(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     kill_at_ - Clock::now())) +
                                 " s)");
  }

  // SIGKILL after the grace period; false once kill_timeout after it passed (the ranks still
  // not reaped are given up on).
  bool enforceDeadlines() {
    if (stopping_ && !killed_ && Clock::now() >= kill_at_) killAll();
    if (!killed_ || Clock::now() < give_up_at_) return true;
    for (const auto& p : procs_) {
      if (!p.done) result_.unreaped.push_back(p.rank);
    }
    return false;
  }

  AgentResult finish() {
    if (hang_open_ && stopping_ && hangs_.lastCompletedMs() > 0)
      result_.hang_cost_ms = unixNowMs() - hangs_.lastCompletedMs();
    pump_.finish(options_.output_drain_timeout);
    if (result_.preemption) result_.preemption_outcome = options_.preemption->outcome();
    if (spawn_error_) std::rethrow_exception(spawn_error_);
    return result_;
  }

  const AgentOptions& options_;
  SignalWatch& signals_;
  const std::vector<RankSpec>& ranks_;
  AgentResult result_;
  OutputPump pump_;
  std::vector<RunningRank> procs_;
  std::exception_ptr spawn_error_;
  HangWatch hangs_;
  std::map<int, std::string> hung_;  // rank -> why it was killed as stuck, until its end is seen
  std::map<int, int> spawns_;        // rank -> times spawned (its log folder's attempt number)
  std::map<int, std::string> error_files_;  // rank -> its spawn's TORCHELASTIC_ERROR_FILE
  bool hang_open_ = false;                  // a hang was found and has not been stepped past
  std::vector<int> hung_restarted_;         // ranks of the open hang that were respawned
  bool stopping_ = false;
  bool killed_ = false;
  Clock::time_point kill_at_ = Clock::time_point::max();
  Clock::time_point give_up_at_ = Clock::time_point::max();
  Clock::time_point next_peer_poll_;
};

}  // namespace

AgentResult LocalAgent::run(const std::vector<RankSpec>& ranks) {
  return AgentRun(options_, signals_, ranks).run();
}

}  // namespace trainrun::launch
