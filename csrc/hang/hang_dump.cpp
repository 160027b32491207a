// HangDumper: sigtimedwait() on the request signal, its short timeout the heartbeat's clock.
#include "hang/hang_dump.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <exception>

#include "core/clock.h"
#include "core/env.h"
#include "core/error.h"
#include "core/file.h"
#include "core/logging.h"
#include "hang/rank_dump.h"
#include "hang/stack_dump.h"
#include "train/fault_freeze.h"

namespace trainrun {
namespace {

constexpr std::chrono::milliseconds kBeatInterval{kBeatIntervalMs};
// Bounds of one dump: each thread's answer, all threads' stacks, gdb's stacks.
constexpr std::chrono::milliseconds kPerThread{200};
constexpr std::chrono::milliseconds kAllThreads{3000};
constexpr std::chrono::milliseconds kGdbTimeout{10000};

std::atomic<pid_t> g_dump_tid{0};  // the dump thread, while it runs

// A request that reached a thread with the signal unblocked goes on to the dump thread.
void forwardDumpRequest(int) {
  const int saved_errno = errno;
  const pid_t tid = g_dump_tid.load();
  if (tid != 0) ::syscall(SYS_tgkill, ::getpid(), tid, kDumpRequestSignal);
  errno = saved_errno;
}

// RANK as the launcher set it, which names this rank's files: an elastic job's generations
// may give the rank another place in the group.
int launchRank(const DistContext& dist) {
  try {
    return static_cast<int>(env::integer(env::kRank, 0, 1 << 24).value_or(dist.rank));
  } catch (const Error&) {
    return dist.rank;
  }
}

int nodeRank() {
  try {
    return static_cast<int>(env::integer(env::kGroupRank, 0, 1 << 20).value_or(0));
  } catch (const Error&) {
    return 0;
  }
}

}  // namespace

void prepareHangDumps() {
  struct sigaction sa {};
  sa.sa_handler = forwardDumpRequest;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  ::sigaction(kDumpRequestSignal, &sa, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, kDumpRequestSignal);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  installStackDumpHandler();
}

HangDumper::HangDumper(const DistContext& dist)
    : dist_(dist), dir_(env::get(env::kDumpDir)), rank_(launchRank(dist)) {
  if (!dir_.empty()) thread_ = std::thread(&HangDumper::loop, this);
}

HangDumper::CommView HangDumper::snapshot() const {
  std::lock_guard<std::mutex> lock(*dist_.comm_mu);  // an elastic job may be swapping it
  CommView v;
  if (dist_.elastic) v.generation = dist_.elastic->generation();
  // Null only while an elastic job re-forms its group (a rank alone has its own communicator).
  v.regrouping = !dist_.comm;
  if (v.regrouping) {
    v.step = last_step_;  // between an elastic job's generations
    v.done_ms = last_done_ms_;
    return v;
  }
  v.step = last_step_ = dist_.comm->step();
  v.records = dist_.comm->recentCollectives();
  int64_t done = last_done_ms_;
  for (const CollectiveRecord& r : v.records) {
    if (r.state == CollectiveRecord::State::kCompleted) done = std::max(done, unixMs(r.end));
  }
  v.done_ms = last_done_ms_ = done;
  return v;
}

HangDumper::~HangDumper() {
  if (!thread_.joinable()) return;
  stop_ = true;
  ::pthread_kill(thread_.native_handle(), kDumpRequestSignal);  // wakes its sigtimedwait
  thread_.join();
  // A rank that ended is not hanging, whatever its last heartbeat says.
  ::unlink(progressPath(dir_, rank_).c_str());
}

void HangDumper::heartbeat() {
  RankProgress p;
  p.pid = ::getpid();
  p.node = nodeRank();
  p.beat_ms = unixMs(std::chrono::system_clock::now());
  const CommView view = snapshot();
  p.step = view.step;
  p.done_ms = view.done_ms;
  p.generation = view.generation;
  p.regrouping = view.regrouping;
  if (!view.records.empty()) p.seq = view.records.back().seq;
  for (const CollectiveRecord& r : view.records) {
    if (r.state != CollectiveRecord::State::kIssued) continue;
    p.open_seq = r.seq;
    p.open_since_ms = unixMs(r.start);
    break;
  }
  replaceFileForReaders(progressPath(dir_, rank_), formatProgress(p));
}

void HangDumper::dump(const std::string& reason) {
  if (dir_.empty()) return;
  std::lock_guard<std::mutex> lock(dump_mu_);
  try {
    writeDump(reason);
  } catch (const std::exception& e) {  // the folder went away, a full disk: say so, go on
    log::warn(std::string("hang dump not written: ") + e.what());
  }
}

void HangDumper::writeDump(const std::string& reason) {
  const auto now = std::chrono::system_clock::now();
  RankDump d;
  d.rank = rank_;
  d.node = nodeRank();
  d.pid = ::getpid();
  d.time_ms = unixMs(now);
  d.reason = reason;
  const CommView view = snapshot();
  d.step = view.step;
  d.done_ms = view.done_ms;
  d.generation = view.generation;
  d.regrouping = view.regrouping;
  for (const CollectiveRecord& r : view.records) {
    d.records.push_back(DumpRecord{r.seq, r.op, r.bytes, r.step, stateName(r.state),
                                   unixMs(now) - unixMs(r.start), r.tag});
    d.last_seq = r.seq;
  }
  d.threads = dumpAllStacks(kPerThread, kAllThreads);
  // The main thread (tid == pid) first: the report shows its stack.
  std::stable_partition(d.threads.begin(), d.threads.end(),
                        [&](const ThreadStack& t) { return t.tid == d.pid; });
  const std::string path = dumpPath(dir_, rank_);
  writeFileAtomic(path, formatRankDump(d));  // first without gdb, which may take seconds
  d.gdb = gdbStacks(d.pid, path + ".gdb", kGdbTimeout);
  d.final = true;
  writeFileAtomic(path, formatRankDump(d));
}

void HangDumper::loop() {
  g_dump_tid = static_cast<pid_t>(::gettid());
  ::pthread_setname_np(::pthread_self(), "trainrun-dump");
  sigset_t request;
  sigemptyset(&request);
  sigaddset(&request, kDumpRequestSignal);
  auto next_beat = std::chrono::steady_clock::now();
  bool warned = false;
  while (!stop_) {
    if (frozenByInjection()) {  // a test's deadlocked rank: no heartbeat, no answer
      while (true) ::pause();
    }
    try {
      if (std::chrono::steady_clock::now() >= next_beat) {
        heartbeat();
        next_beat = std::chrono::steady_clock::now() + kBeatInterval;
      }
      const timespec wait{0, 100 * 1000 * 1000};
      siginfo_t info{};
      if (::sigtimedwait(&request, &info, &wait) == kDumpRequestSignal && !stop_)
        dump(kRequestedReason + std::to_string(info.si_pid));
    } catch (const std::exception& e) {  // the folder went away, a full disk: training goes on
      if (!warned) log::warn(std::string("hang-report heartbeat: ") + e.what());
      warned = true;
      next_beat = std::chrono::steady_clock::now() + kBeatInterval;
    }
  }
  g_dump_tid = 0;
}

}  // namespace trainrun
