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
#include "core/file.h"
#include "hang/hang_watch.h"
#include "launch/output_pump.h"
#include "launch/process.h"

namespace trainrun::launch {
namespace {

struct RunningRank {
  int rank;
  pid_t pid;  // also the process group id
  bool done = false;
};

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

}  // namespace

AgentResult LocalAgent::run(const std::vector<RankSpec>& ranks) {
  AgentResult result;
  OutputPump pump;
  std::vector<RunningRank> procs;
  std::exception_ptr spawn_error;
  HangWatch hangs(options_.hang_timeout, options_.dump_wait);
  hangs.setExchange(options_.hang_exchange);
  auto spawn = [&](const RankSpec& spec) {
    ChildProcess child = spawnInOwnGroup(spec.argv, hangs.rankEnv(spec.env));
    hangs.add(spec.rank, child.pid);
    const std::string prefix = "[rank " + std::to_string(spec.rank) + "] ";
    pump.add(child.stdout_fd, STDOUT_FILENO, prefix);
    pump.add(child.stderr_fd, STDERR_FILENO, prefix);
    return child.pid;
  };
  for (const auto& spec : ranks) {
    try {
      procs.push_back(RunningRank{spec.rank, spawn(spec)});
    } catch (...) {
      spawn_error = std::current_exception();
      break;
    }
  }
  pump.start();

  // A hang report's stuck ranks: SIGKILL at once (their stacks are taken); each one's end is then
  // a rank failure like any other (below), which restart_rank may answer with a respawn.
  std::map<int, std::string> hung;  // rank -> why, until its end is seen
  bool hang_open = false;           // a hang was found and has not been stepped past
  std::vector<int> hung_restarted;  // ranks of the open hang that were respawned
  hangs.setOnStuck([&](const std::vector<StuckRank>& stuck) {
    hang_open = true;
    for (const StuckRank& s : stuck) {
      auto proc = std::find_if(procs.begin(), procs.end(),
                               [&](const RunningRank& p) { return p.rank == s.rank; });
      if (proc == procs.end() || proc->done || proc->pid != s.pid || hung.count(s.rank)) continue;
      signalGroup(s.pid, SIGKILL);
      hung[s.rank] = s.why;
      result.hung_killed.push_back("rank " + std::to_string(s.rank) + " (" + s.why + ")");
      writeLine(STDERR_FILENO, "trainrun: hang: killed rank " + std::to_string(s.rank) + " (pid " +
                                   std::to_string(s.pid) + ") with SIGKILL at once: it " +
                                   itIs(s.why) + ", so SIGTERM and a grace period cannot stop it");
    }
  });

  bool stopping = false, killed = false;
  Clock::time_point kill_at = Clock::time_point::max();
  Clock::time_point give_up_at = Clock::time_point::max();
  auto live = [&] {
    return static_cast<int>(
        std::count_if(procs.begin(), procs.end(), [](const RunningRank& p) { return !p.done; }));
  };
  auto signalLive = [&](int sig) {
    for (const auto& p : procs) {
      if (!p.done) signalGroup(p.pid, sig);
    }
  };
  auto killAll = [&] {
    result.force_killed = live();
    signalLive(SIGKILL);
    killed = true;
    give_up_at = Clock::now() + options_.kill_timeout;
  };
  auto beginStop = [&](int sig) {
    stopping = true;
    result.stopped = live();
    signalLive(sig);
    kill_at = Clock::now() + options_.grace_period;
  };
  auto preempt = [&](const PreemptNotice& notice) {  // the notice first, then the signal
    result.preemption = notice;
    options_.preemption->announce(notice);
    beginStop(SIGTERM);
    kill_at = Clock::now() + std::max(notice.deadline - std::chrono::system_clock::now(),
                                      std::chrono::system_clock::duration::zero());
  };
  if (spawn_error) {
    stopping = true;
    killAll();
  }

  Clock::time_point next_peer_poll = Clock::now() + options_.peer_poll_interval;
  while (live() > 0) {
    auto wait = options_.monitor_interval;
    if (stopping && !killed) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(kill_at - Clock::now());
      wait = std::clamp(left, std::chrono::milliseconds(0), options_.monitor_interval);
    }
    pollfd pfd{signals_.fd(), POLLIN, 0};
    ::poll(&pfd, 1, static_cast<int>(wait.count()));

    for (int sig : signals_.take()) {
      if (sig != SIGINT && sig != SIGTERM) continue;  // SIGCHLD only wakes us
      if (!stopping) {
        result.received_signal = sig;
        if (options_.on_stop_signal) options_.on_stop_signal(sig);
        writeLine(STDERR_FILENO, "trainrun: got " + signalName(sig) + "; stopping " +
                                     std::to_string(live()) + " rank(s) (SIGKILL after " +
                                     seconds(options_.grace_period) + " s; repeat to kill now)");
        if (sig == SIGTERM && options_.preemption)
          preempt(options_.preemption->sigtermNotice(options_.grace_period));
        else
          beginStop(sig);  // forwarded as is: SIGINT lets a Python worker raise KeyboardInterrupt
      } else if (!killed) {
        killAll();
      }
    }

    // Reap every rank whose main process has exited. WNOWAIT keeps it a zombie while we
    // SIGKILL the rest of its group: the zombie pins the group id, so the signal cannot
    // reach a stranger that reused the number.
    std::vector<std::pair<int, ExitStatus>> exited;
    for (auto& p : procs) {
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
      exited.emplace_back(p.rank, ExitStatus::fromWaitStatus(status));
    }
    for (const auto& [rank, status] : exited) result.stopped_ok += stopping && status.ok();
    std::vector<std::string> hung_exits;  // why each of `exited` was killed as hung ("": not)
    for (const auto& [rank, status] : exited) {
      auto h = hung.find(rank);
      hung_exits.push_back(h == hung.end() ? "" : h->second);
      if (h != hung.end()) hung.erase(h);
    }
    if (!stopping) {
      for (size_t i = 0; i < exited.size(); ++i) {
        const auto& [rank, status] = exited[i];
        if (status.ok()) continue;
        // It timed out in a collective: report before anything is stopped or respawned.
        const std::string hang =
            hangs.leftDump(rank)
                ? hangs.report("rank " + std::to_string(rank) + " timed out in a collective")
                : "";
        if (!hang.empty()) hang_open = true;
        const RankFailure failure{rank, status, hung_exits[i]};
        if (options_.restart_rank && options_.restart_rank(failure)) {
          auto spec = std::find_if(ranks.begin(), ranks.end(),
                                   [rank = rank](const RankSpec& r) { return r.rank == rank; });
          auto proc = std::find_if(procs.begin(), procs.end(),
                                   [rank = rank](const RunningRank& p) { return p.rank == rank; });
          try {
            proc->pid = spawn(*spec);
            proc->done = false;
            ++result.restarts;
            if (!failure.hung.empty()) hung_restarted.push_back(rank);
            continue;
          } catch (...) {  // cannot spawn: the run ends as when this fails at start-up
            spawn_error = std::current_exception();
          }
        }
        result.first_failure = failure;
        if (!hang.empty()) result.hang = hang;
        beginStop(SIGTERM);  // first: reporting may take seconds (it looks for a dead peer)
        if (options_.report_failure) options_.report_failure(*result.first_failure);
        break;
      }
    }
    // Another node's hang report wants this node's stacks, even while its ranks stop.
    if (!killed) hangs.answerPeers();
    if (!stopping) {
      if (const std::string stall = hangs.stall(); !stall.empty()) {
        const std::string verdict = hangs.report(stall);  // kills the stuck ranks (above)
        if (!verdict.empty()) hang_open = true;
        // Elastic jobs: a killed rank's end is a failure restart_rank answers; elsewhere (not
        // stuck, another node's) the ranks' own deadlines start recovery.
        if (!options_.restart_rank) {
          result.hang = verdict;
          // A rank killed as stuck: its end (next) is the failure that stops the others and
          // tells the other nodes; else the hang itself stops them.
          if (hung.empty()) beginStop(SIGTERM);
        }
      }
    }
    if (hang_open) {
      if (const std::optional<int64_t> cost = hangs.resumed()) {
        std::string done;
        for (int rank : hung_restarted)
          done += "rank " + std::to_string(rank) + " was killed and restarted; ";
        writeLine(
            STDERR_FILENO,
            "trainrun: hang over: " + done + "the job stepped on" +
                (*cost >= 0 ? ", " + tenths(*cost) + " after its last completed collective" : ""));
        hang_open = false;
        hung_restarted.clear();
      }
    }
    if (!stopping && options_.peer_failure && Clock::now() >= next_peer_poll) {
      next_peer_poll = Clock::now() + options_.peer_poll_interval;
      std::string why = options_.peer_failure();
      if (!why.empty()) {
        result.peer_failure = why;
        writeLine(STDERR_FILENO, "trainrun: " + why + "; stopping " + std::to_string(live()) +
                                     " rank(s) on this node");
        beginStop(SIGTERM);
      }
    }

    if (!stopping && options_.preemption) {
      if (std::optional<PreemptNotice> notice = options_.preemption->spotNotice()) {
        if (options_.on_stop_signal) options_.on_stop_signal(SIGTERM);  // leaving, as on SIGTERM
        preempt(*notice);
        writeLine(STDERR_FILENO, "trainrun: " + notice->reason + "; stopping " +
                                     std::to_string(live()) + " rank(s) (SIGKILL then, in " +
                                     seconds(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         kill_at - Clock::now())) +
                                     " s)");
      }
    }

    if (stopping && !killed && Clock::now() >= kill_at) killAll();
    if (killed && Clock::now() >= give_up_at) {
      for (const auto& p : procs) {
        if (!p.done) result.unreaped.push_back(p.rank);
      }
      break;
    }
  }

  if (hang_open && stopping && hangs.lastCompletedMs() > 0)
    result.hang_cost_ms = unixNowMs() - hangs.lastCompletedMs();
  pump.finish(options_.output_drain_timeout);
  if (result.preemption) result.preemption_outcome = options_.preemption->outcome();
  if (spawn_error) std::rethrow_exception(spawn_error);
  return result;
}

}  // namespace trainrun::launch
