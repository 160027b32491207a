// Stack dumps: a thread blocked in a known function shows up in every thread's stacks and gdb's.
#include "hang/stack_dump.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "core/env.h"

namespace trainrun::test {

std::atomic<pid_t> g_blocked_tid{0};

// Exported (the test links with ENABLE_EXPORTS) and never inlined, so its name is on the stack.
__attribute__((noinline)) void blockedInKnownFunction(int fd) {
  g_blocked_tid = static_cast<pid_t>(::syscall(SYS_gettid));
  char byte;
  while (::read(fd, &byte, 1) < 0) {  // a signal may interrupt the read: read on
  }
}

namespace {

// A thread parked in blockedInKnownFunction() until the fixture ends.
class StackDumpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::pipe(fds_), 0);
    thread_ = std::thread(blockedInKnownFunction, fds_[0]);
    while (g_blocked_tid == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // into read()
  }
  void TearDown() override {
    ASSERT_EQ(::write(fds_[1], "x", 1), 1);
    thread_.join();
    ::close(fds_[0]);
    ::close(fds_[1]);
    g_blocked_tid = 0;
  }
  int fds_[2] = {-1, -1};
  std::thread thread_;
};

TEST_F(StackDumpTest, EveryThreadAnswersAndTheBlockedOneIsInItsFunction) {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<ThreadStack> stacks =
      dumpAllStacks(std::chrono::milliseconds(500), std::chrono::seconds(5));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  ASSERT_GE(stacks.size(), 2u);
  bool found = false;
  for (const ThreadStack& s : stacks) {
    EXPECT_TRUE(s.answered) << "thread " << s.tid;
    if (s.tid == ::getpid()) {  // the caller's own stack: this test's body
      std::string all;
      for (const auto& f : s.frames) all += f + "\n";
      EXPECT_NE(all.find("dumpAllStacks"), std::string::npos) << all;
    }
    if (s.tid != g_blocked_tid) continue;
    found = true;
    ASSERT_FALSE(s.frames.empty());
    std::string all;
    for (const auto& f : s.frames) all += f + "\n";
    // Demangled, below the read() it blocks in, and not the handler's own frames.
    EXPECT_NE(all.find("trainrun::test::blockedInKnownFunction(int)"), std::string::npos) << all;
    EXPECT_EQ(all.find("onStackSignal"), std::string::npos) << all;
  }
  EXPECT_TRUE(found);
}

TEST_F(StackDumpTest, AThreadThatBlocksTheSignalIsReportedUnansweredInBoundedTime) {
  std::atomic<bool> quit{false};
  std::atomic<pid_t> tid{0};
  std::thread deaf([&] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, stackDumpSignal());
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
    tid = static_cast<pid_t>(::syscall(SYS_gettid));
    while (!quit) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  });
  while (tid == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto start = std::chrono::steady_clock::now();
  const auto stacks = dumpAllStacks(std::chrono::milliseconds(100), std::chrono::seconds(5));
  const auto took = std::chrono::steady_clock::now() - start;
  quit = true;
  deaf.join();
  EXPECT_LT(took, std::chrono::seconds(2));
  int deaf_seen = 0, blocked_seen = 0;
  for (const ThreadStack& s : stacks) {
    if (s.tid == tid) {
      ++deaf_seen;
      EXPECT_FALSE(s.answered);
    }
    if (s.tid == g_blocked_tid) {
      ++blocked_seen;
      EXPECT_TRUE(s.answered);  // the threads after a deaf one are still asked
    }
  }
  EXPECT_EQ(deaf_seen, 1);
  EXPECT_EQ(blocked_seen, 1);
}

TEST_F(StackDumpTest, GdbSeesTheBlockedThreadToo) {
  if (env::findOnPath("gdb").empty()) GTEST_SKIP() << "no gdb on PATH";
  const std::string scratch = ::testing::TempDir() + "stack_dump_test.gdb";
  const std::string out = gdbStacks(::getpid(), scratch, std::chrono::seconds(20));
  EXPECT_NE(out.find("blockedInKnownFunction"), std::string::npos) << out;
  EXPECT_NE(::access(scratch.c_str(), F_OK), 0) << "scratch file left behind";
}

TEST(GdbStacksTest, NoGdbOnPathIsAnEmptyAnswer) {
  const std::string path = env::get("PATH");
  ::setenv("PATH", "/nonexistent", 1);
  const std::string out =
      gdbStacks(::getpid(), ::testing::TempDir() + "x.gdb", std::chrono::seconds(1));
  ::setenv("PATH", path.c_str(), 1);
  EXPECT_EQ(out, "");
}

}  // namespace
}  // namespace trainrun::test
