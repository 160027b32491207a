// Hang analysis: the rank that did not join is named with its stack; all joined is the transport.
#include "hang/hang_report.h"

#include <gtest/gtest.h>

#include "launch/run_summary.h"

namespace trainrun::launch {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;  // Unix ms

// A rank that answered: collectives 1..last issued at step 812, the last one still open when
// `open`, the main thread stopped in `top_frame`.
RankEvidence answered(int rank, uint64_t last, bool open, const std::string& top_frame) {
  RankDump d;
  d.rank = rank;
  d.node = rank / 2;
  d.pid = 1000 + rank;
  d.step = 812;
  d.last_seq = last;
  d.time_ms = kNow - 500;
  d.final = true;
  for (uint64_t seq = 37; seq <= last; ++seq) {
    const bool is_open = open && seq == last;
    d.records.push_back(DumpRecord{seq, "allreduce", 25 << 20, 812,
                                   is_open ? "issued" : "completed", is_open ? 10'000 : 12'000,
                                   "bucket " + std::to_string(seq % 4)});
  }
  ThreadStack main_thread;
  main_thread.tid = d.pid;
  main_thread.name = "trainrun-worker";
  main_thread.answered = true;
  main_thread.frames = {top_frame, "trainrun-worker(trainrun::Trainer::run()+0x40) [0x1]",
                        "trainrun-worker(main+0x10) [0x2]"};
  ThreadStack other;
  other.tid = d.pid + 7;
  other.name = "pt_autograd_0";
  other.answered = true;
  other.frames = {"libc.so.6(+0x1234) [0x3]"};
  d.threads = {main_thread, other};
  RankEvidence e;
  e.rank = rank;
  e.pid = d.pid;
  e.dump = d;
  return e;
}

// Rank 1, frozen by SIGSTOP: known only from its last heartbeat.
RankEvidence stoppedRank(const RankProgress& last_beat) {
  RankEvidence e;
  e.rank = 1;
  e.pid = 1001;
  e.process = "stopped by a signal";
  e.progress = last_beat;
  return e;
}

std::string joined(const HangReport& r) {
  std::string all;
  for (const auto& l : r.lines) all += l + "\n";
  return all;
}

TEST(HangReportTest, NamesTheRankThatDidNotJoinWithItsStack) {
  std::vector<RankEvidence> ranks;
  for (int rank : {0, 1, 3}) {
    ranks.push_back(answered(rank, 41, true, "libc.so.6(syscall+0x1d) [0x9]"));
  }
  ranks.push_back(answered(2, 40, false, "trainrun-worker(slowDataLoader()+0x5) [0x7]"));
  const HangReport r = analyzeHang(ranks, kNow);
  EXPECT_EQ(r.culprits, std::vector<int>{2});
  EXPECT_EQ(r.verdict, "rank 2 (node 1) did not join allreduce #41 (bucket 1, 25 MiB) at step 812");
  const std::string all = joined(r);
  EXPECT_NE(all.find("rank 2's main thread (pid 1002):\n    #0 trainrun-worker(slowDataLoader()"),
            std::string::npos)
      << all;
  EXPECT_EQ(all.find("pt_autograd_0"), std::string::npos) << "only the main thread";
  // The table: a header and one row per rank, in rank order, with the open collective's age.
  ASSERT_GE(r.lines.size(), 5u);
  EXPECT_NE(r.lines[0].find("last seq"), std::string::npos);
  EXPECT_NE(r.lines[1].find("#41 issued"), std::string::npos) << r.lines[1];
  EXPECT_NE(r.lines[1].find("10.5 s"), std::string::npos) << r.lines[1];
  EXPECT_NE(r.lines[3].find("none (#40 completed)"), std::string::npos) << r.lines[3];
}

TEST(HangReportTest, AStoppedRankComesBeforeTheRunningPeerThatWaitsForIt) {
  // Two nodes, hierarchical: node 1's leader (rank 2) waits in #40 for its stopped local peer
  // (rank 3); node 0's ranks went on to #41. Both of node 1's ranks missed #41, but the
  // stopped one is the cause.
  std::vector<RankEvidence> ranks = {answered(0, 41, true, "libc(x) [0x1]"),
                                     answered(1, 41, true, "libc(x) [0x1]"),
                                     answered(2, 40, true, "libc(x) [0x1]")};
  ranks.push_back(stoppedRank(RankProgress{1003, 1, 812, 40, 40, kNow - 10'000, kNow - 300}));
  ranks.back().rank = 3;
  HangReport r = analyzeHang(ranks, kNow);
  EXPECT_EQ(r.culprits, (std::vector<int>{3, 2}));
  // Whatever the waiting leader's state: it ended on its own deadline, or its own dump's gdb
  // holds it.
  for (const char* state : {"exited", "stopped by a debugger", "in uninterruptible sleep (D)"}) {
    ranks[2].process = state;
    r = analyzeHang(ranks, kNow);
    EXPECT_EQ(r.culprits, (std::vector<int>{3, 2})) << state;
  }
  EXPECT_EQ(r.verdict.rfind("rank 3 (node 1) did not join allreduce #41", 0), 0u) << r.verdict;
}

TEST(HangReportTest, AllRanksInsideTheCollectiveMeansTheTransport) {
  std::vector<RankEvidence> ranks;
  for (int rank = 0; rank < 4; ++rank) ranks.push_back(answered(rank, 41, true, "libc(x) [0x1]"));
  const HangReport r = analyzeHang(ranks, kNow);
  EXPECT_TRUE(r.culprits.empty());
  EXPECT_EQ(r.verdict,
            "all 4 ranks joined allreduce #41 (bucket 1, 25 MiB) at step 812 and it is still open "
            "after 10.5 s: no rank is missing, so suspect the transport (network, NCCL, shared "
            "memory) rather than a rank");
  EXPECT_EQ(r.lines.back(), r.verdict);
}

TEST(HangReportTest, ARankKnownOnlyFromItsHeartbeatIsNamedWithWhatIsKnown) {
  std::vector<RankEvidence> ranks = {answered(0, 41, true, "libc(x) [0x1]")};
  ranks.push_back(stoppedRank(RankProgress{1001, 0, 811, 33, 0, 0, kNow - 1200}));
  const HangReport r = analyzeHang(ranks, kNow);
  EXPECT_EQ(r.culprits, std::vector<int>{1});
  EXPECT_EQ(r.verdict,
            "rank 1 (node 0) did not join allreduce #41 (bucket 1, 25 MiB) at step 812; it is "
            "stopped by a signal (known from its heartbeat of 1.2 s ago: last collective #33, "
            "step 811)");
  EXPECT_NE(joined(r).find("no stack of rank 1 (stopped by a signal)"), std::string::npos);
}

TEST(HangReportTest, AStoppedRankInsideTheCollectiveIsNamedAndGdbGivesItsStack) {
  std::vector<RankEvidence> ranks = {answered(0, 41, true, "libc(x) [0x1]")};
  RankEvidence stopped = stoppedRank(RankProgress{1001, 0, 812, 41, 41, kNow - 10'000, kNow - 300});
  stopped.gdb =
      "Thread 2 (Thread 0x7f (LWP 1009) \"worker\"):\n#0  0x1 in poll ()\n\n"
      "Thread 1 (Thread 0x7e (LWP 1001) \"trainrun-worker\"):\n"
      "#0  futex_wait (private=0, w=0x1) at ./nptl/futex-internal.c:57\n"
      "#1  0x3 in trainrun::Reducer::finalizeBackward() ()\n\n";
  ranks.push_back(stopped);
  const HangReport r = analyzeHang(ranks, kNow);
  EXPECT_EQ(r.culprits, std::vector<int>{1});
  EXPECT_EQ(r.verdict.rfind("rank 1 (node 0) is stopped by a signal inside allreduce #41 (", 0), 0u)
      << r.verdict;
  const std::string all = joined(r);
  EXPECT_NE(all.find("    #1  0x3 in trainrun::Reducer::finalizeBackward() ()"), std::string::npos)
      << all;
  EXPECT_NE(all.find("    #0  futex_wait (...) at ./nptl/futex-internal.c:57\n"), std::string::npos)
      << all;
  EXPECT_EQ(all.find("poll"), std::string::npos) << all;
}

TEST(HangReportTest, InAnElasticJobTheRankThatNeverLeftItsGenerationIsNamed) {
  // Rank 0 timed out, left generation 2 and waits for the group to re-form (no communicator,
  // so no collectives); rank 1 never left: its heartbeat still shows #41 of generation 2.
  RankEvidence waiting = answered(0, 0, false, "libc(nanosleep) [0x1]");
  waiting.dump->records.clear();
  waiting.dump->generation = 2;
  waiting.dump->regrouping = true;
  RankProgress beat{1001, 0, 812, 41, 41, kNow - 10'000, kNow - 400};
  beat.generation = 2;
  const HangReport r = analyzeHang({waiting, stoppedRank(beat)}, kNow);
  EXPECT_EQ(r.culprits, std::vector<int>{1});
  EXPECT_EQ(r.verdict.rfind("rank 1 (node 0) did not join the group re-forming after generation 2; "
                            "it is stopped by a signal (known from its heartbeat of 0.4 s ago",
                            0),
            0u)
      << r.verdict;
  EXPECT_NE(r.lines[1].find("re-forming (gen 2)"), std::string::npos) << r.lines[1];
}

TEST(HangReportTest, SummaryNamesTheHang) {
  AgentResult r;
  r.hang = "rank 2 (node 1) did not join allreduce #41 (bucket 1, 25 MiB) at step 812";
  r.stopped = 4;
  EXPECT_EQ(summaryLine(r, std::chrono::seconds(10)),
            "trainrun: hang: " + r.hang + "; stopped 4 ranks");
  EXPECT_EQ(launcherExitCode(r), 1);
}

TEST(HangReportTest, StuckMeansItCannotActOnSigterm) {
  RankEvidence e;
  EXPECT_EQ(stuckReason(e), "");  // running, answered
  e.unanswered = true;
  EXPECT_EQ(stuckReason(e), "did not answer its dump request");
  e.process = "exited";  // it ended while asked: nothing to kill
  EXPECT_EQ(stuckReason(e), "");
  for (const char* p :
       {"stopped by a signal", "stopped by a debugger", "in uninterruptible sleep (D)"}) {
    e.process = p;
    EXPECT_EQ(stuckReason(e), p);
  }
}

TEST(HangReportTest, LastCompletedIsTheNewestAnyRankKnows) {
  RankEvidence a, b, c;
  a.progress = RankProgress{};
  a.progress->done_ms = 1000;
  b.dump = RankDump{};
  b.dump->done_ms = 1500;
  EXPECT_EQ(lastCompletedMs({a, b, c}), 1500);
  EXPECT_EQ(lastCompletedMs({c}), 0);
}

TEST(HangReportTest, HumanBytes) {
  EXPECT_EQ(humanBytes(4096), "4 KiB");
  EXPECT_EQ(humanBytes(340000), "332 KiB");
  EXPECT_EQ(humanBytes(25 << 20), "25 MiB");
  EXPECT_EQ(humanBytes(1536ll << 20), "1.5 GiB");
  EXPECT_EQ(humanBytes(12), "12 B");
}

}  // namespace
}  // namespace trainrun::launch
