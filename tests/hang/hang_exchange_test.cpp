// Hang exchange: one claim per hang, answers carried through a real store, clocks aligned.
#include "hang/hang_exchange.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <thread>

#include "store/store.h"

namespace trainrun::launch {
namespace {

using std::chrono::milliseconds;

RankEvidence stoppedRank(int rank, int node) {
  RankEvidence e;
  e.rank = rank;
  e.pid = 4000 + rank;
  e.process = "stopped by a signal";
  e.gdb = "Thread 1 (LWP 4003):\n#0 futex_wait\n";
  RankProgress p;
  p.pid = e.pid;
  p.node = node;
  p.step = 19;
  p.seq = 30;
  p.beat_ms = 1'000'000;
  e.progress = p;
  return e;
}

RankEvidence answeredRank(int rank, int node) {
  RankDump d;
  d.rank = rank;
  d.node = node;
  d.pid = 4000 + rank;
  d.step = 19;
  d.last_seq = 31;
  d.time_ms = 2'000'000;
  d.final = true;
  d.records.push_back(DumpRecord{31, "allreduce", 340008, 19, "issued", 10'000, "bucket 0"});
  ThreadStack t;
  t.tid = d.pid;
  t.name = "trainrun-worker";
  t.answered = true;
  t.frames = {"trainrun-worker(trainrun::Trainer::run()+0x40) [0x1]", "\xff not utf-8 \xfe"};
  d.threads = {t};
  RankEvidence e;
  e.rank = rank;
  e.pid = d.pid;
  e.dump_text = formatRankDump(d);
  e.dump = d;
  return e;
}

TEST(HangEvidence, RoundTripsWithTheSendersClockMovedOntoTheReaders) {
  const std::vector<RankEvidence> sent = {answeredRank(2, 1), stoppedRank(3, 1)};
  const std::vector<RankEvidence> got = parseEvidence(formatEvidence(sent, 5'000), 5'250);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].rank, 2);
  ASSERT_TRUE(got[0].dump.has_value());
  EXPECT_EQ(got[0].dump->last_seq, 31u);
  EXPECT_EQ(got[0].dump->time_ms, 2'000'250);
  ASSERT_EQ(got[0].dump->records.size(), 1u);
  EXPECT_EQ(got[0].dump->records[0].state, "issued");
  EXPECT_EQ(got[1].process, "stopped by a signal");
  EXPECT_EQ(got[1].gdb, sent[1].gdb);
  ASSERT_TRUE(got[1].progress.has_value());
  EXPECT_EQ(got[1].progress->beat_ms, 1'000'250);
  EXPECT_EQ(got[1].progress->node, 1);
  EXPECT_TRUE(parseEvidence("not json", 0).empty());
}

class HangExchangeTest : public ::testing::Test {
 protected:
  void SetUp() override { host_ = Store::host(0, milliseconds(5000)); }
  std::unique_ptr<HangExchange> node(int id, std::vector<int> peers) {
    return std::make_unique<HangExchange>(
        Store::connect("127.0.0.1", host_->port(), milliseconds(5000), "job/"), id,
        [peers](Store&) { return peers; });
  }
  std::unique_ptr<Store> host_;
};

// A node's watcher thread sees a new request within 0.5 s.
std::optional<HangRequest> pendingWithin(HangExchange& node, milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (auto r = node.pending()) return r;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return std::nullopt;
}

TEST_F(HangExchangeTest, TheFirstClaimWinsAndTheOthersAnswerIt) {
  auto n0 = node(0, {1, 2}), n1 = node(1, {0, 2}), n2 = node(2, {0, 1});
  HangRequest mine, other;
  ASSERT_TRUE(n1->claim("collective #31 open on rank 2", &mine));
  EXPECT_EQ(mine.node, 1);
  EXPECT_FALSE(pendingWithin(*n1, milliseconds(700)).has_value());  // its own request
  ASSERT_FALSE(n0->claim("collective #31 open on rank 0", &other));
  EXPECT_EQ(other.node, 1);
  EXPECT_EQ(other.id, mine.id);
  EXPECT_EQ(other.why, "collective #31 open on rank 2");
  const auto seen = pendingWithin(*n2, milliseconds(2000));
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->id, other.id);

  n0->answer(other.id, {answeredRank(0, 0), answeredRank(1, 0)});
  EXPECT_FALSE(n0->pending().has_value());  // answered once
  std::vector<int> missing;
  auto got = n1->collect(other.id, std::chrono::steady_clock::now() + milliseconds(300), &missing);
  EXPECT_EQ(got.size(), 2u);
  EXPECT_EQ(missing, std::vector<int>{2});  // node 2 never answered: named, not waited for

  n1->publishVerdict(other.id, "rank 3 (node 1) did not join allreduce #31");
  EXPECT_EQ(n0->verdict(other.id, std::chrono::steady_clock::now() + milliseconds(300)),
            "rank 3 (node 1) did not join allreduce #31");
  EXPECT_EQ(n0->verdict(other.id + 1, std::chrono::steady_clock::now() + milliseconds(100)), "");

  // The next hang is a new request, which node 0 may claim now; node 2's watcher moves on to
  // it (it never answered the first, which the newer one replaces).
  HangRequest next;
  ASSERT_TRUE(n0->claim("a later hang", &next));
  EXPECT_EQ(next.id, mine.id + 1);
  std::optional<HangRequest> later;
  for (int i = 0; i < 100 && !(later && later->id == next.id); ++i) {
    later = n2->pending();
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_TRUE(later.has_value());
  EXPECT_EQ(later->id, next.id);
  EXPECT_EQ(later->node, 0);
}

}  // namespace
}  // namespace trainrun::launch
