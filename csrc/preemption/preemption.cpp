// Preemption: the notice file as trigger, stop-step agreement in the store, the emergency save.
#include "preemption/preemption.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/env.h"
#include "core/error.h"
#include "core/file.h"
#include "core/logging.h"
#include "preemption/emergency_save.h"
#include "store/store_keys.h"

namespace trainrun {
namespace {

// After a SIGTERM without a notice file, how long the agent may take to write one (a scheduler
// such as Slurm signals every process of the job, ranks and agent at once).
constexpr std::chrono::milliseconds kNoticeWait{500};

[[noreturn]] void dieBySigterm() {
  std::signal(SIGTERM, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  ::raise(SIGTERM);  // pending while blocked; delivered, with the default action, on unblock
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  std::_Exit(128 + SIGTERM);
}

// Store keys of one preemption; the restart count keeps a later attempt's apart.
std::string preemptKey(const std::string& what) {
  return trainrun::preemptKey(env::get(env::kRestartCount), what);
}

uint64_t stateBytes(const CheckpointState& state) {
  uint64_t bytes = 0;
  for (const auto& [name, t] : state.replicated) bytes += t.nbytes();
  return bytes;
}

}  // namespace

void catchSigterm() {
  const std::string path = env::get(env::kPreemptFile);
  if (path.empty()) return;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return;
  // The agent writes its notice before it signals: with one, this SIGTERM is a preemption that
  // the next step boundary handles; without one it stops the rank at once, as it always did
  // (the agent stopping ranks after another one failed). The thread starts with every signal
  // blocked, so it never takes one meant for a handler or a sigwait of another part.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &previous);
  std::thread([path, set] {
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      const auto until = Clock::now() + kNoticeWait;
      while (::access(path.c_str(), F_OK) != 0) {
        if (Clock::now() >= until) dieBySigterm();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }).detach();
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

Preemption::Preemption(DistContext& dist, CheckpointManager* checkpoints)
    : dist_(dist), checkpoints_(checkpoints), path_(env::get(env::kPreemptFile)) {}

double Preemption::secondsLeft() const {
  return std::chrono::duration<double>(notice_.deadline - std::chrono::system_clock::now()).count();
}

bool Preemption::noticed() {
  if (path_.empty() || ::access(path_.c_str(), F_OK) != 0) return false;
  std::optional<PreemptNotice> notice = parsePreemptNotice(readWholeFile(path_).value_or(""));
  notice_ = notice.value_or(PreemptNotice{std::chrono::system_clock::now(), "SIGTERM", false});
  return true;
}

bool Preemption::stopAfter(int64_t steps_done) {
  if (path_.empty()) return false;
  if (seen_at_ < 0) {
    if (!noticed()) return false;
    seen_at_ = steps_done;
    seen_time_ = Clock::now();
    if (!notice_.save || dist_.world_size == 1 || !dist_.store) {
      stop_at_ = steps_done;  // nothing to agree on: no rank waits for this one's shard
      return true;
    }
    dist_.store->set(preemptKey("seen/" + std::to_string(dist_.rank)), std::to_string(steps_done));
  }
  if (stop_at_ < 0) agree(steps_done);
  return stop_at_ >= 0 && steps_done >= stop_at_;
}

// Every rank posts the boundary where it first saw its notice before it starts the next step's
// collectives, so a post made at boundary b is visible to every rank by boundary b + 1. Each
// boundary, until all posts are in, a rank checks for them without blocking (the others may
// see their notices a little later: other nodes' agents write theirs): once all are in, every
// rank stops after the same step, the largest post + 1, which no rank has passed yet.
void Preemption::agree(int64_t steps_done) {
  std::vector<std::string> keys;
  for (int r = 0; r < dist_.world_size; ++r)
    keys.push_back(preemptKey("seen/" + std::to_string(r)));
  try {
    if (dist_.store->check(keys)) {
      int64_t last_seen = 0;
      for (const auto& key : keys)
        last_seen = std::max<int64_t>(last_seen, std::stoll(dist_.store->get(key)));
      stop_at_ = last_seen + 1;
      return;
    }
    // Half the time left, at most the group's deadline: the rest is the save's.
    const auto waited = Clock::now() - seen_time_;
    const auto limit = std::min<Clock::duration>(
        dist_.store->timeout(), std::chrono::milliseconds(int64_t(secondsLeft() * 500)));
    if (waited < limit) return;
    throw TimeoutError("not every rank saw a preemption notice within " +
                       formatSeconds(std::chrono::duration<double>(waited).count()));
  } catch (const std::exception& e) {
    agreed_ = false;
    stop_at_ = steps_done;
    log::warn("rank " + std::to_string(dist_.rank) +
              " stops without an emergency checkpoint: the ranks did not agree on a step to "
              "stop at (" +
              e.what() + ")");
  }
}

std::string Preemption::emergencySave(int64_t steps_done,
                                      const std::function<CheckpointState()>& snapshot) {
  if (!notice_.save) return "no emergency checkpoint: the other nodes hold the job's state";
  if (!agreed_) return "no emergency checkpoint: the ranks did not agree on a step to stop at";
  if (!checkpoints_) return "no emergency checkpoint: checkpoint.uri is not set";
  const bool lead = dist_.rank == 0;
  const bool shared = dist_.world_size > 1 && dist_.store;
  std::optional<CheckpointState> state;
  SavePlan plan;
  if (lead) {
    SaveBudget budget;
    budget.step = steps_done;
    budget.seconds_left = secondsLeft();
    budget.last_save_seconds = checkpoints_->lastSaveSeconds();
    budget.world_size = dist_.world_size;
    budget.committed_step = checkpoints_->lastCommittedStep();
    if (auto inflight = checkpoints_->inflight()) {
      budget.inflight_step = inflight->first;
      budget.inflight_seconds = inflight->second;
    }
    if (!budget.last_save_seconds) {
      state = snapshot();  // the bytes for the estimate; the save reuses this snapshot
      budget.state_bytes = stateBytes(*state);
    }
    plan = planEmergencySave(budget);
    if (plan.save)
      log::out("preempted at step " + std::to_string(steps_done) + " (" + notice_.reason +
               "): saving an emergency checkpoint (" + plan.basis + "; " +
               formatSeconds(budget.seconds_left) + " left before the deadline)");
    if (!plan.why_not.empty()) log::warn("not saving an emergency checkpoint: " + plan.why_not);
    if (shared)
      dist_.store->set(preemptKey("plan"),
                       std::string(plan.wait_inflight ? "1" : "0") + (plan.save ? "1" : "0"));
  } else if (shared) {
    const auto wait = std::chrono::milliseconds(int64_t(std::max(0.0, secondsLeft()) * 1e3));
    const std::string word =
        dist_.store->get(preemptKey("plan"), std::min(dist_.store->timeout(), wait));
    plan.wait_inflight = word.size() == 2 && word[0] == '1';
    plan.save = word.size() == 2 && word[1] == '1';
  }
  if (!plan.wait_inflight && checkpoints_->inflight()) {
    // Abandon it uncommitted (its manifest is never written) and exit now, before the deadline.
    if (lead)
      writeFileAtomic(preemptOutcomePath(path_), "no emergency checkpoint: " + plan.why_not);
    std::_Exit(kExitPreempted);
  }
  const Clock::time_point start = Clock::now();
  if (plan.wait_inflight) checkpoints_->wait();
  if (plan.save) {
    if (!state) state = snapshot();
    checkpoints_->save(steps_done, *state);
    checkpoints_->wait();
  }
  if (!plan.why_not.empty()) return "no emergency checkpoint: " + plan.why_not;
  if (!plan.wait_inflight && !plan.save)
    return "the checkpoint of step " + std::to_string(steps_done) + " is committed already";
  return "emergency checkpoint committed at step " + std::to_string(steps_done) + " in " +
         formatSeconds(secondsSince(start)) + ", " + formatSeconds(secondsLeft()) +
         " before the deadline";
}

void Preemption::leave(int64_t steps_done, const std::function<CheckpointState()>& snapshot) {
  std::string outcome;
  try {
    outcome = emergencySave(steps_done, snapshot);
  } catch (const std::exception& e) {
    outcome = std::string("no emergency checkpoint: it failed: ") + e.what();
  }
  exit(steps_done, outcome);
}

void Preemption::leaveIfNoticed(const std::string& why) {
  if (seen_at_ < 0 && !noticed()) return;
  exit(seen_at_, "no emergency checkpoint: the group failed during the preemption (" + why + ")");
}

void Preemption::exit(int64_t steps_done, const std::string& outcome) {
  if (dist_.local_rank == 0) {  // rank 0 on one node; each leaving node's first rank on several
    log::out("preempted" + (steps_done >= 0 ? " at step " + std::to_string(steps_done) : "") +
             " (" + notice_.reason + "): " + outcome);
    try {
      writeFileAtomic(preemptOutcomePath(path_), outcome);
    } catch (const StorageError& e) {
      log::warn(std::string("cannot tell the launcher how the preemption went: ") + e.what());
    }
  }
  throw Preempted(outcome);
}

}  // namespace trainrun
