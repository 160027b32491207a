// HangWatch: reads the ranks' heartbeats, signals them for dumps, writes and prints the report.
#include "hang/hang_watch.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "core/clock.h"
#include "core/env.h"
#include "core/error.h"
#include "core/file.h"
#include "core/logging.h"
#include "core/strings.h"
#include "core/temp_dir.h"
#include "hang/hang_exchange.h"
#include "hang/hang_report.h"
#include "hang/rank_dump.h"
#include "hang/stack_dump.h"

namespace trainrun::launch {
namespace {

constexpr std::chrono::milliseconds kCheckInterval{500};
// Beyond dump_wait: another node's agent sees a request within kCheckInterval, and the store.
constexpr std::chrono::milliseconds kAnswerSlack{2000};
constexpr const char* kReportPrefix = "hang-dump";  // hang-dump.txt, then hang-dump-2.txt, ...

constexpr const char* kUninterruptible = "in uninterruptible sleep (D)";

// From /proc/<pid>/stat: what the report says about a process that may not answer.
std::string processState(pid_t pid) {
  const auto stat = readWholeFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t close = stat ? stat->rfind(')') : std::string::npos;
  if (close == std::string::npos || close + 2 >= stat->size()) return "exited";
  switch ((*stat)[close + 2]) {
    case 'T':
      return "stopped by a signal";
    case 't':
      return "stopped by a debugger";
    case 'D':
      return kUninterruptible;
    case 'Z':
    case 'X':
      return "exited";
    default:
      return "running";
  }
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

std::string secondsText(std::chrono::milliseconds ms) {
  return std::to_string(ms.count() / 1000) + "." + std::to_string(ms.count() % 1000 / 100) + " s";
}

}  // namespace

HangWatch::HangWatch(std::chrono::milliseconds hang_timeout, std::chrono::milliseconds dump_wait)
    : hang_timeout_(hang_timeout), dump_wait_(dump_wait) {
  if (hang_timeout_.count() <= 0) return;
  std::string dir = env::get(env::kDumpDir);
  if (!dir.empty()) {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      log::warn("no hang reports: cannot create " + std::string(env::kDumpDir) + "=" + dir + ": " +
                std::strerror(errno));
      return;
    }
    dir_ = dir;
    return;
  }
  dir_ = makeTempDir("trainrun-dump-");
  if (dir_.empty()) {
    const std::string why = std::strerror(errno);
    log::warn("no hang reports: cannot create a folder like " + tempBase() +
              "/trainrun-dump-XXXXXX: " + why + " (set TMPDIR or " + env::kDumpDir + ")");
    return;
  }
  private_dir_ = true;
}

HangWatch::~HangWatch() {
  if (!private_dir_) return;
  if (DIR* dir = ::opendir(dir_.c_str())) {  // ours alone: everything in it is the ranks' files
    while (dirent* e = ::readdir(dir)) {
      const std::string name = e->d_name;
      if (name == "." || name == ".." || name.rfind(kReportPrefix, 0) == 0) continue;
      ::unlink((dir_ + "/" + name).c_str());
    }
    ::closedir(dir);
  }
  if (!kept_) ::rmdir(dir_.c_str());
}

std::vector<std::string> HangWatch::rankEnv(std::vector<std::string> env) const {
  if (!on()) return env;
  const std::string prefix = std::string(env::kDumpDir) + "=";
  env.erase(std::remove_if(env.begin(), env.end(),
                           [&](const std::string& e) { return e.rfind(prefix, 0) == 0; }),
            env.end());
  env.push_back(prefix + dir_);
  return env;
}

std::string HangWatch::stall() {
  if (!on() || Clock::now() < next_check_) return "";
  next_check_ = Clock::now() + kCheckInterval;
  const int64_t now = unixNowMs();
  for (const auto& [rank, pid] : ranks_) {
    const auto text = readWholeFile(progressPath(dir_, rank));
    const auto p = text ? parseProgress(*text) : std::nullopt;
    // Only a fresh heartbeat can start a report: a stale one's open collective may be done.
    if (!p || now - p->beat_ms > kStaleBeatMs) continue;
    if (p->regrouping && p->done_ms > 0) {  // elastic: its deadline failed the collective
      const std::chrono::milliseconds idle{now - p->done_ms};
      if (std::chrono::milliseconds(now - std::max(p->done_ms, quiet_from_ms_)) < hang_timeout_)
        continue;
      return "rank " + std::to_string(rank) + " has been re-forming the group with no collective " +
             "completed for " + secondsText(idle) + " (the hang timeout is " +
             secondsText(hang_timeout_) + ")";
    }
    if (p->open_seq == 0) continue;
    const std::chrono::milliseconds open{now - p->open_since_ms};
    if (open < hang_timeout_) continue;
    return "collective #" + std::to_string(p->open_seq) + " has been open on rank " +
           std::to_string(rank) + " for " + secondsText(open) + " (the hang timeout is " +
           secondsText(hang_timeout_) + ")";
  }
  return "";
}

void HangWatch::add(int rank, pid_t pid) {
  exit_dumps_taken_.erase(std::remove(exit_dumps_taken_.begin(), exit_dumps_taken_.end(), rank),
                          exit_dumps_taken_.end());
  for (auto& r : ranks_) {
    if (r.first == rank) {
      r.second = pid;
      return;
    }
  }
  ranks_.emplace_back(rank, pid);
}

int64_t HangWatch::maxStep() const {
  int64_t step = -1;
  for (const auto& [rank, pid] : ranks_) {
    const auto text = readWholeFile(progressPath(dir_, rank));
    const auto p = text ? parseProgress(*text) : std::nullopt;
    if (p) step = std::max(step, p->step);
  }
  return step;
}

bool HangWatch::leftDump(int rank) const {
  if (!on()) return false;
  return exists(dumpPath(dir_, rank)) ||
         std::find(exit_dumps_taken_.begin(), exit_dumps_taken_.end(), rank) !=
             exit_dumps_taken_.end();
}

std::vector<RankEvidence> HangWatch::gatherLocal() {
  const Clock::time_point deadline = Clock::now() + dump_wait_;
  std::vector<RankEvidence> evidence;
  std::vector<bool> asked;
  for (const auto& [rank, pid] : ranks_) {
    RankEvidence e;
    e.rank = rank;
    e.pid = pid;
    e.process = processState(pid);
    // Only a rank that heartbeats has its dump thread, and SIGUSR2 blocked: ask no other. A
    // rank that left its exit dump (it failed on its own deadline) is not asked either: that
    // dump is its last word, which asking would replace.
    const auto left = readWholeFile(dumpPath(dir_, rank));
    const auto left_dump = left ? parseRankDump(*left) : std::nullopt;
    asked.push_back(e.process != "exited" && exists(progressPath(dir_, rank)) &&
                    !(left_dump && isExitDump(*left_dump)));
    if (asked.back()) {
      ::unlink(dumpPath(dir_, rank).c_str());
      ::kill(pid, kDumpRequestSignal);
    }
    evidence.push_back(std::move(e));
  }
  // A stopped rank cannot answer; gdb can still read its stacks.
  for (RankEvidence& e : evidence) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (e.process == "running" || e.process == "exited" || left.count() <= 0) continue;
    e.gdb = gdbStacks(e.pid, dir_ + "/rank-" + std::to_string(e.rank) + ".launcher-gdb", left);
  }
  // Waited for: asked ranks that run, until their dump is final or they end.
  auto answered = [&](size_t i) {
    const RankEvidence& e = evidence[i];
    if (!asked[i] || e.process != "running" || processState(e.pid) == "exited") return true;
    const auto text = readWholeFile(dumpPath(dir_, e.rank));
    const auto d = text ? parseRankDump(*text) : std::nullopt;
    return d && d->final;
  };
  auto all_answered = [&] {
    for (size_t i = 0; i < evidence.size(); ++i) {
      if (!answered(i)) return false;
    }
    return true;
  };
  while (Clock::now() < deadline && !all_answered())
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (size_t i = 0; i < evidence.size(); ++i) {
    RankEvidence& e = evidence[i];
    const std::string before = e.process;
    e.process = processState(e.pid);  // some may have ended meanwhile (their own timeout)
    // Uninterruptible sleep for a moment (a disk write) is no hang: only a rank in it from the
    // start of the gathering to its end, and still a second later, is stuck there.
    for (int look = 0; look < 10 && e.process == kUninterruptible && before != kUninterruptible;
         ++look) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      e.process = processState(e.pid);
    }
    if (const auto text = readWholeFile(dumpPath(dir_, e.rank))) {
      e.dump_text = *text;
      e.dump = parseRankDump(*text);
    }
    if (const auto p = readWholeFile(progressPath(dir_, e.rank))) e.progress = parseProgress(*p);
    // Asked, running, and not even the first half of a dump: its dump thread is stuck too.
    e.unanswered = asked[i] && e.process == "running" && !e.dump;
  }
  // A rank that does not answer is killed next: gdb reads its stacks first, as for a stopped one.
  for (RankEvidence& e : evidence) {
    if (!e.unanswered) continue;
    e.gdb =
        gdbStacks(e.pid, dir_ + "/rank-" + std::to_string(e.rank) + ".launcher-gdb", dump_wait_);
  }
  return evidence;
}

void HangWatch::reportStuck(const std::vector<RankEvidence>& evidence) {
  std::vector<StuckRank> stuck;
  for (const RankEvidence& e : evidence) {
    const std::string why = stuckReason(e);
    if (why.empty()) continue;
    for (const auto& [rank, pid] : ranks_) {  // this node's, as they were asked
      if (rank == e.rank && pid == e.pid) stuck.push_back(StuckRank{rank, pid, why});
    }
  }
  if (!stuck.empty() && on_stuck_) on_stuck_(stuck);
}

std::optional<int64_t> HangWatch::resumed() {
  if (!awaiting_resume_ || Clock::now() < next_resume_check_) return std::nullopt;
  next_resume_check_ = Clock::now() + kCheckInterval;
  if (maxStep() <= last_max_step_) return std::nullopt;
  awaiting_resume_ = false;
  quiet_from_ms_ = unixNowMs();
  return last_done_ms_ > 0 ? unixNowMs() - last_done_ms_ : int64_t{-1};
}

// An answering node waits up to dump_wait for its ranks, then up to dump_wait more for gdb on
// one that did not answer.
Clock::time_point HangWatch::collectDeadline() const {
  return Clock::now() + 2 * dump_wait_ + kAnswerSlack;
}

Clock::time_point HangWatch::verdictDeadline() const {
  return Clock::now() + 4 * dump_wait_ + 2 * kAnswerSlack;  // its own gather, then ours
}

void HangWatch::consumed(const std::vector<RankEvidence>& evidence, const std::string& verdict) {
  ++reports_;
  exit_dumps_taken_.clear();
  for (const auto& [rank, pid] : ranks_) {
    for (const RankEvidence& e : evidence) {
      if (e.rank == rank && e.dump && isExitDump(*e.dump)) exit_dumps_taken_.push_back(rank);
    }
    ::unlink(dumpPath(dir_, rank).c_str());
  }
  last_done_ms_ = launch::lastCompletedMs(evidence);
  last_max_step_ = -1;
  for (const RankEvidence& e : evidence) {
    if (e.dump) last_max_step_ = std::max(last_max_step_, e.dump->step);
    if (e.progress) last_max_step_ = std::max(last_max_step_, e.progress->step);
  }
  last_verdict_ = verdict;
  awaiting_resume_ = true;
  quiet_from_ms_ = unixNowMs();
}

std::string HangWatch::answer(int64_t id, int node, const std::string& why, bool wait_for_verdict) {
  writeLine(STDERR_FILENO, "trainrun: hang: node " + std::to_string(node) + " reports: " + why +
                               "; sending it this node's stacks");
  const std::vector<RankEvidence> evidence = gatherLocal();
  std::string verdict;
  bool sent = false;
  try {
    exchange_->answer(id, evidence);
    sent = true;
    reportStuck(evidence);  // their stacks are on their way: nothing more to wait for
    if (wait_for_verdict) verdict = exchange_->verdict(id, verdictDeadline());
  } catch (const Error& e) {
    log::warn(std::string("hang evidence not sent to node ") + std::to_string(node) + ": " +
              e.what());
    if (!sent) reportStuck(evidence);
  }
  answered_id_ = id;
  if (!verdict.empty()) verdict += " (node " + std::to_string(node) + "'s report)";
  consumed(evidence, verdict);
  return verdict;
}

void HangWatch::answerPeers() {
  if (!on() || exchange_ == nullptr || Clock::now() < next_peer_check_) return;
  next_peer_check_ = Clock::now() + kCheckInterval;
  try {
    if (const auto request = exchange_->pending())
      answer(request->id, request->node, request->why, /*wait_for_verdict=*/false);
  } catch (const Error&) {
    // The store is gone or slow: the rendezvous reports that; hangs stay this node's own.
  }
}

std::string HangWatch::report(const std::string& why) {
  if (!on()) return "";
  if (reports_ > 0 && maxStep() <= last_max_step_) {  // the same hang
    if (last_verdict_.empty() && answered_id_ > 0 && exchange_ != nullptr) {
      try {  // this node answered another's request: repeat that node's verdict
        last_verdict_ = exchange_->verdict(answered_id_, verdictDeadline());
      } catch (const Error&) {
      }
    }
    return last_verdict_;
  }
  int64_t id = 0;
  if (exchange_ != nullptr) {
    try {
      HangRequest request;
      if (!exchange_->claim(why, &request))
        return answer(request.id, request.node, request.why, /*wait_for_verdict=*/true);
      id = request.id;
    } catch (const Error& e) {
      log::warn(std::string("hang report of this node's ranks only: ") + e.what());
    }
  }
  writeLine(STDERR_FILENO, "trainrun: hang: " + why + "; asking every rank for its stacks" +
                               (id > 0 ? " (every node's)" : ""));
  std::vector<RankEvidence> evidence = gatherLocal();
  std::vector<int> missing;
  if (id > 0) {
    try {
      std::vector<RankEvidence> theirs = exchange_->collect(id, collectDeadline(), &missing);
      evidence.insert(evidence.end(), theirs.begin(), theirs.end());
    } catch (const Error& e) {
      log::warn(std::string("hang report without the other nodes' ranks: ") + e.what());
    }
    std::sort(evidence.begin(), evidence.end(),
              [](const RankEvidence& a, const RankEvidence& b) { return a.rank < b.rank; });
    if (!missing.empty()) {
      std::vector<std::string> nodes;
      for (int n : missing) nodes.push_back(std::to_string(n));
      writeLine(STDERR_FILENO, "trainrun: hang: node(s) " + joinNames(nodes) +
                                   " sent no evidence in time; their ranks are not in the table");
    }
  }

  std::string full = "trainrun hang dump: " + why + "\n\n";
  std::vector<std::string> raw;
  for (const RankEvidence& e : evidence) {
    std::string section = "===== rank " + std::to_string(e.rank) + " (pid " +
                          std::to_string(e.pid) + ", " + e.process + ") =====\n";
    section += !e.dump_text.empty() ? e.dump_text : "(no dump: the rank did not answer)\n";
    if (!e.gdb.empty()) section += "gdb, run by the launcher:\n" + e.gdb;
    raw.push_back(section);
  }
  const HangReport r = analyzeHang(evidence, unixNowMs());
  for (const std::string& line : r.lines) {
    writeLine(STDERR_FILENO, "trainrun: " + line);
    full += line + "\n";
  }
  for (const std::string& section : raw) full += "\n" + section;
  const std::string path = dir_ + "/" + kReportPrefix +
                           (reports_ == 0 ? "" : "-" + std::to_string(reports_ + 1)) + ".txt";
  try {
    writeFileAtomic(path, full);
    kept_ = true;
    writeLine(STDERR_FILENO, "trainrun: full hang dump: " + path);
  } catch (const Error& e) {
    log::warn(std::string("hang dump not written: ") + e.what());
  }
  if (id > 0) {
    try {
      exchange_->publishVerdict(id, r.verdict);
    } catch (const Error&) {
    }
  }
  answered_id_ = 0;
  consumed(evidence, r.verdict);
  reportStuck(evidence);
  return r.verdict;
}

}  // namespace trainrun::launch
