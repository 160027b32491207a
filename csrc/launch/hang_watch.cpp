// HangWatch: reads the ranks' heartbeats, signals them for dumps, writes and prints the report.
#include "launch/hang_watch.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "core/env.h"
#include "core/error.h"
#include "core/file.h"
#include "core/logging.h"
#include "core/rank_dump.h"
#include "core/stack_dump.h"
#include "launch/hang_report.h"

namespace trainrun::launch {
namespace {

constexpr std::chrono::milliseconds kCheckInterval{500};
constexpr const char* kReportPrefix = "hang-dump";  // hang-dump.txt, then hang-dump-2.txt, ...

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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
      return "in uninterruptible sleep (D)";
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
  std::string tmp = env::get(env::kTmpDir);
  std::string templ = (tmp.empty() ? "/tmp" : tmp) + "/trainrun-dump-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    log::warn("no hang reports: cannot create a folder like " + templ + ": " +
              std::strerror(errno) + " (set TMPDIR or " + env::kDumpDir + ")");
    return;
  }
  dir_ = templ;
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
  const int64_t now = nowMs();
  for (const auto& [rank, pid] : ranks_) {
    const auto text = readWholeFile(progressPath(dir_, rank));
    const auto p = text ? parseProgress(*text) : std::nullopt;
    // Only a fresh heartbeat can start a report: a stale one's open collective may be done.
    if (!p || p->open_seq == 0 || now - p->beat_ms > kStaleBeatMs) continue;
    const std::chrono::milliseconds open{now - p->open_since_ms};
    if (open < hang_timeout_) continue;
    return "collective #" + std::to_string(p->open_seq) + " has been open on rank " +
           std::to_string(rank) + " for " + secondsText(open) + " (the hang timeout is " +
           secondsText(hang_timeout_) + ")";
  }
  return "";
}

void HangWatch::add(int rank, pid_t pid) {
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

bool HangWatch::leftDump(int rank) const { return on() && exists(dumpPath(dir_, rank)); }

std::string HangWatch::report(const std::string& why) {
  if (!on()) return "";
  if (reports_ > 0 && maxStep() <= last_max_step_) return last_verdict_;  // the same hang
  writeLine(STDERR_FILENO, "trainrun: hang: " + why + "; asking every rank for its stacks");
  const Clock::time_point deadline = Clock::now() + dump_wait_;
  std::vector<RankEvidence> evidence;
  std::vector<bool> asked;
  for (const auto& [rank, pid] : ranks_) {
    RankEvidence e;
    e.rank = rank;
    e.pid = pid;
    e.process = processState(pid);
    // Only a rank that heartbeats has its dump thread, and SIGUSR2 blocked: ask no other.
    asked.push_back(e.process != "exited" && exists(progressPath(dir_, rank)));
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

  std::string full = "trainrun hang dump: " + why + "\n\n";
  std::vector<std::string> raw;
  for (RankEvidence& e : evidence) {
    e.process = processState(e.pid);  // some may have ended meanwhile (their own timeout)
    const auto text = readWholeFile(dumpPath(dir_, e.rank));
    if (text) e.dump = parseRankDump(*text);
    if (const auto p = readWholeFile(progressPath(dir_, e.rank))) e.progress = parseProgress(*p);
    std::string section = "===== rank " + std::to_string(e.rank) + " (pid " +
                          std::to_string(e.pid) + ", " + e.process + ") =====\n";
    section += text ? *text : "(no dump: the rank did not answer)\n";
    if (!e.gdb.empty()) section += "gdb, run by the launcher:\n" + e.gdb;
    raw.push_back(section);
  }
  const HangReport r = analyzeHang(evidence, nowMs());
  for (const std::string& line : r.lines) {
    writeLine(STDERR_FILENO, "trainrun: " + line);
    full += line + "\n";
  }
  for (const std::string& section : raw) full += "\n" + section;
  ++reports_;
  const std::string path =
      dir_ + "/" + kReportPrefix + (reports_ == 1 ? "" : "-" + std::to_string(reports_)) + ".txt";
  try {
    writeFileAtomic(path, full);
    kept_ = true;
    writeLine(STDERR_FILENO, "trainrun: full hang dump: " + path);
  } catch (const Error& e) {
    log::warn(std::string("hang dump not written: ") + e.what());
  }
  // All in the report now; a later hang (an elastic job's) starts from a clean folder.
  for (const RankEvidence& e : evidence) ::unlink(dumpPath(dir_, e.rank).c_str());
  last_max_step_ = -1;
  for (const RankEvidence& e : evidence) {
    if (e.dump) last_max_step_ = std::max(last_max_step_, e.dump->step);
    if (e.progress) last_max_step_ = std::max(last_max_step_, e.progress->step);
  }
  last_verdict_ = r.verdict;
  return r.verdict;
}

}  // namespace trainrun::launch
