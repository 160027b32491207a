// Rank dump and progress files: what the rank writes, the launcher reads back unchanged.
#include "hang/rank_dump.h"

#include <gtest/gtest.h>

namespace trainrun {
namespace {

TEST(RankDumpTest, DumpRoundTrips) {
  RankDump d;
  d.rank = 5;
  d.node = 2;
  d.pid = 4242;
  d.step = 812;
  d.last_seq = 1234;
  d.time_ms = 1700000000123;
  d.done_ms = 1700000000023;
  d.final = true;
  d.generation = 3;
  d.regrouping = true;
  d.reason = "collective #1234 timed out\nafter 10 s";  // folded to one line
  d.records = {DumpRecord{1233, "allreduce", 26214400, 811, "completed", 900, "bucket 3"},
               DumpRecord{1234, "broadcast", 8, 812, "issued", 10100, ""}};
  ThreadStack t;
  t.tid = 4242;
  t.name = "trainrun worker";
  t.answered = true;
  t.frames = {"libc.so.6(syscall+0x1d) [0x7f01]", "trainrun-worker(main+0x10) [0x55]"};
  ThreadStack deaf;
  deaf.tid = 4250;
  deaf.name = "gloo";
  d.threads = {t, deaf};
  d.gdb = "Thread 1 (LWP 4242):\n#0  0x1 in main ()\n";
  const auto back = parseRankDump(formatRankDump(d));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->rank, 5);
  EXPECT_EQ(back->node, 2);
  EXPECT_EQ(back->pid, 4242);
  EXPECT_EQ(back->step, 812);
  EXPECT_EQ(back->last_seq, 1234u);
  EXPECT_EQ(back->time_ms, 1700000000123);
  EXPECT_EQ(back->done_ms, 1700000000023);
  EXPECT_TRUE(back->final);
  EXPECT_EQ(back->generation, 3);
  EXPECT_TRUE(back->regrouping);
  EXPECT_EQ(back->reason, "collective #1234 timed out after 10 s");
  ASSERT_EQ(back->records.size(), 2u);
  EXPECT_EQ(back->records[0].tag, "bucket 3");
  EXPECT_EQ(back->records[0].bytes, 26214400);
  EXPECT_EQ(back->records[1].op, "broadcast");
  EXPECT_EQ(back->records[1].state, "issued");
  EXPECT_EQ(back->records[1].age_ms, 10100);
  EXPECT_EQ(back->records[1].tag, "");
  ASSERT_EQ(back->threads.size(), 2u);
  EXPECT_EQ(back->threads[0].name, "trainrun worker");
  EXPECT_EQ(back->threads[0].frames, t.frames);
  EXPECT_FALSE(back->threads[1].answered);
  EXPECT_TRUE(back->threads[1].frames.empty());
  EXPECT_EQ(back->gdb, d.gdb);
}

TEST(RankDumpTest, NotADump) {
  EXPECT_FALSE(parseRankDump(""));
  EXPECT_FALSE(parseRankDump("hello\n"));
  EXPECT_FALSE(parseProgress("garbage"));
}

TEST(RankDumpTest, ProgressRoundTrips) {
  const RankProgress p{77, 3,    812,          1234, 1234, 1700000000000, 1700000001000,
                       2,  true, 1699999999000};
  const auto back = parseProgress(formatProgress(p));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->pid, 77);
  EXPECT_EQ(back->node, 3);
  EXPECT_EQ(back->step, 812);
  EXPECT_EQ(back->seq, 1234u);
  EXPECT_EQ(back->open_seq, 1234u);
  EXPECT_EQ(back->open_since_ms, 1700000000000);
  EXPECT_EQ(back->beat_ms, 1700000001000);
  EXPECT_EQ(back->generation, 2);
  EXPECT_TRUE(back->regrouping);
  EXPECT_EQ(back->done_ms, 1699999999000);
  EXPECT_EQ(progressPath("/d", 5), "/d/rank-5.progress");
  EXPECT_EQ(dumpPath("/d", 5), "/d/rank-5.txt");
}

}  // namespace
}  // namespace trainrun
