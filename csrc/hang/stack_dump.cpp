// Stack dumps: a signal handler records one thread's return addresses; gdb as a second opinion.
#include "hang/stack_dump.h"

#include <cxxabi.h>
#include <dirent.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "core/clock.h"
#include "core/env.h"
#include "core/file.h"
#include "core/strings.h"

namespace trainrun {
namespace {

constexpr int kMaxFrames = 64;
// Frames of the handler itself and of the kernel's signal trampoline, above the thread's own.
constexpr int kHandlerFrames = 2;

// The one request in flight, as a single lock-free word so the handler can claim it atomically:
// bits 0-31 the thread asked, bit 32 claimed by its handler, bit 33 done, bits 34-63 a
// generation, so a handler that runs too late never takes a later request for its own.
std::atomic<uint64_t> g_ticket{0};
constexpr uint64_t kClaimed = 1ull << 32;
constexpr uint64_t kDone = 1ull << 33;
constexpr int kGenerationShift = 34;
void* g_frames[kMaxFrames];
int g_depth = 0;

void onStackSignal(int, siginfo_t*, void*) {
  const int saved_errno = errno;
  uint64_t ticket = g_ticket.load();
  if (static_cast<pid_t>(ticket & 0xffffffffu) == ::gettid() && (ticket & kClaimed) == 0 &&
      g_ticket.compare_exchange_strong(ticket, ticket | kClaimed)) {
    g_depth = ::backtrace(g_frames, kMaxFrames);
    g_ticket.store(ticket | kClaimed | kDone);
  }
  errno = saved_errno;
}

std::vector<pid_t> threadIds() {
  std::vector<pid_t> tids;
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr) return tids;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') tids.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
  }
  ::closedir(dir);
  return tids;
}

// "libfoo.so(_ZN2ns1fEi+0x1f) [0x7f..]" -> "libfoo.so(ns::f(int)+0x1f) [0x7f..]", path dropped.
std::string readableFrame(const char* symbol) {
  std::string s = symbol;
  const size_t open = s.find('(');
  const size_t plus = s.find('+', open);
  const size_t slash = s.rfind('/', open);
  if (open != std::string::npos && plus != std::string::npos && plus > open + 1) {
    int status = 0;
    char* name =
        abi::__cxa_demangle(s.substr(open + 1, plus - open - 1).c_str(), nullptr, nullptr, &status);
    if (status == 0 && name != nullptr) s = s.substr(0, open + 1) + name + s.substr(plus);
    std::free(name);
  }
  return slash == std::string::npos ? s : s.substr(slash + 1);
}

std::vector<std::string> symbolize(void* const* frames, int depth) {
  std::vector<std::string> out;
  if (depth <= 0) return out;
  char** symbols = ::backtrace_symbols(frames, depth);
  for (int i = 0; i < depth; ++i) {
    out.push_back(symbols != nullptr ? readableFrame(symbols[i]) : "?");
  }
  std::free(symbols);
  return out;
}

// Asks thread `tid` for its stack: false if it did not answer by `deadline`.
bool askThread(pid_t tid, uint64_t generation, Clock::time_point deadline, ThreadStack& stack) {
  const uint64_t ticket = (generation << kGenerationShift) | static_cast<uint32_t>(tid);
  g_ticket.store(ticket);
  if (::syscall(SYS_tgkill, ::getpid(), tid, stackDumpSignal()) != 0) {  // it has exited
    g_ticket.store(0);
    return false;
  }
  while (Clock::now() < deadline) {
    if (g_ticket.load() & kDone) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  uint64_t expected = ticket;
  if (g_ticket.compare_exchange_strong(expected, 0)) return false;  // withdrawn: never ran
  // Claimed: the handler is writing; backtrace() takes microseconds.
  const auto grace = Clock::now() + std::chrono::seconds(1);
  while (!(g_ticket.load() & kDone) && Clock::now() < grace)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!(g_ticket.load() & kDone)) return false;
  if (g_depth > kHandlerFrames)
    stack.frames = symbolize(g_frames + kHandlerFrames, g_depth - kHandlerFrames);
  g_ticket.store(0);
  return true;
}

}  // namespace

int stackDumpSignal() { return SIGRTMIN + 6; }

void installStackDumpHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    void* warm[2];
    ::backtrace(warm, 2);  // loads libgcc's unwinder now, not inside the handler
    struct sigaction sa {};
    sa.sa_sigaction = onStackSignal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    ::sigaction(stackDumpSignal(), &sa, nullptr);
  });
}

std::vector<ThreadStack> dumpAllStacks(std::chrono::milliseconds per_thread,
                                       std::chrono::milliseconds total) {
  static std::mutex mu;
  static uint64_t generation = 0;
  std::lock_guard<std::mutex> lock(mu);
  installStackDumpHandler();
  const Clock::time_point end = Clock::now() + total;
  std::vector<ThreadStack> stacks;
  bool slot_busy = false;  // a handler claimed a request and never finished: stop asking
  for (pid_t tid : threadIds()) {
    ThreadStack stack;
    stack.tid = tid;
    stack.name =
        trim(readWholeFile("/proc/self/task/" + std::to_string(tid) + "/comm").value_or(""));
    if (!slot_busy && Clock::now() < end) {
      stack.answered =
          askThread(tid, ++generation, std::min(end, Clock::now() + per_thread), stack);
      slot_busy = !stack.answered && g_ticket.load() != 0;
    }
    stacks.push_back(std::move(stack));
  }
  return stacks;
}

namespace {

// The watchdog, in the forked child (async-signal-safe calls only): once the caller writes a
// byte on `go_fd`, runs gdb (`argv`) with its output in `out`, and kills it after `ticks` naps
// of 20 ms. Exits 0 when gdb exited, 1 when it died, 124 when it was killed, 127 on failure.
[[noreturn]] void runGdbWatchdog(int go_fd, int null_in, int out, char* const* argv, long ticks) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  char byte;
  if (::read(go_fd, &byte, 1) != 1) _exit(127);  // the caller gave up
  const pid_t self = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) _exit(127);
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != self) _exit(127);
    ::dup2(null_in, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(argv[0], argv);
    _exit(127);
  }
  int status = 0;
  for (long i = 0; i < ticks; ++i) {
    if (::waitpid(child, &status, WNOHANG) == child) _exit(WIFEXITED(status) ? 0 : 1);
    const timespec nap{0, 20 * 1000 * 1000};
    ::nanosleep(&nap, nullptr);
  }
  ::kill(child, SIGKILL);  // the kernel detaches its tracee, which goes on
  _exit(124);
}

}  // namespace

std::string gdbStacks(pid_t pid, const std::string& scratch, std::chrono::milliseconds timeout) {
  const std::string gdb = env::findOnPath("gdb");
  if (gdb.empty()) return "";
  const std::string pid_text = std::to_string(pid);
  // Shared libraries' symbols are skipped: loading LibTorch's takes gdb tens of seconds, and
  // the signal-safe stacks name its exported functions anyway.
  std::vector<std::string> args = {gdb,      "-nx",
                                   "-batch", "-q",
                                   "-iex",   "set auto-solib-add off",
                                   "-ex",    "set pagination off",
                                   "-ex",    "thread apply all bt",
                                   "-p",     pid_text};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const long ticks = std::max<long>(1, timeout.count() / 20);  // the watchdog's 20 ms naps
  const int out = ::open(scratch.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int null_in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int go[2] = {-1, -1};
  if (out < 0 || null_in < 0 || ::pipe2(go, O_CLOEXEC) != 0) {
    for (int fd : {out, null_in}) {
      if (fd >= 0) ::close(fd);
    }
    return "";
  }
  // The child is a watchdog that runs gdb and kills it at the deadline. It must be a separate
  // process: while gdb is attached to this one, every thread here is stopped, the caller too.
  const pid_t watchdog = ::fork();
  if (watchdog == 0) runGdbWatchdog(go[0], null_in, out, argv.data(), ticks);
  ::close(out);
  ::close(null_in);
  ::close(go[0]);
  if (watchdog < 0) {
    ::close(go[1]);
    return "";
  }
  // Under Yama's ptrace_scope=1 only ancestors, or a process named here and its descendants,
  // may trace this one; gdb starts only once its watchdog is named.
  if (pid == ::getpid()) ::prctl(PR_SET_PTRACER, watchdog, 0, 0, 0);
  const char byte = 1;
  const bool started = ::write(go[1], &byte, 1) == 1;
  ::close(go[1]);
  const Clock::time_point deadline = Clock::now() + timeout + std::chrono::seconds(2);
  int status = 0;
  bool exited = false;
  while (started && !exited && Clock::now() < deadline) {
    exited = ::waitpid(watchdog, &status, WNOHANG) == watchdog;
    if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!exited) {
    ::kill(watchdog, SIGKILL);  // gdb follows it (PR_SET_PDEATHSIG)
    ::waitpid(watchdog, &status, 0);
  }
  if (pid == ::getpid()) ::prctl(PR_SET_PTRACER, 0, 0, 0, 0);
  const std::string text = readWholeFile(scratch).value_or("");
  ::unlink(scratch.c_str());
  if (!exited || !WIFEXITED(status) || WEXITSTATUS(status) == 124)
    return "(gdb did not finish within " + std::to_string(timeout.count()) + " ms)\n" + text;
  return text;
}

}  // namespace trainrun
