// Tests of generations and ElasticGroup: one failure makes one generation, plans, and the
// watcher that fails a collective waiting on a lost rank at once instead of at the deadline.
#include "distributed/elastic.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "core/clock.h"
#include "core/error.h"
#include "distributed/shm/shm_communicator.h"
#include "store/generation.h"
#include "support/thread_ranks.h"

namespace trainrun {
namespace {

using testing::kStoreTimeout;

TEST(Generation, OneFailureSeenTwiceMakesOneGeneration) {
  auto store = Store::host(0, kStoreTimeout);
  EXPECT_EQ(currentGeneration(*store), 0);
  EXPECT_EQ(advanceGeneration(*store, 0), 1);
  EXPECT_EQ(advanceGeneration(*store, 0), 1);  // an agent and a rank saw the same failure
  EXPECT_EQ(advanceGeneration(*store, 1), 2);
}

TEST(Generation, PlansApplyUntilANewerOne) {
  auto store = Store::host(0, kStoreTimeout);
  EXPECT_FALSE(latestPlan(*store, 3));
  GroupPlan plan;
  plan.nproc = 2;
  plan.nodes = {0, 3, 5};
  store->set(planKey(1), formatPlan(plan));
  EXPECT_EQ(formatPlan(parsePlan("2 0 3 5")), "2 0 3 5");
  EXPECT_FALSE(latestPlan(*store, 0));
  ASSERT_TRUE(latestPlan(*store, 4));
  EXPECT_EQ(latestPlan(*store, 4)->nodes, plan.nodes);
  EXPECT_EQ(plan.firstRank(5), 4);
  EXPECT_EQ(plan.firstRank(1), -1);
  EXPECT_THROW(parsePlan("x"), CommError);
}

// Two ranks join generation 0 with shm; rank 1 then "dies" (stops issuing collectives) and
// its agent moves the generation on: rank 0's pending all-reduce fails within the watcher's
// poll, not at the 2-minute deadline, and both ranks can join generation 1.
TEST(ElasticGroup, WatcherFailsACollectiveWaitingOnALostRank) {
  auto host = Store::host(0, kStoreTimeout);
  auto connect = [&] { return Store::connect("127.0.0.1", host->port(), kStoreTimeout); };
  auto makeShm = [](Store& store, int rank) {
    return [&store, rank](const std::string& prefix) {
      return makeShmCommunicator(store, prefix, rank, 2);
    };
  };
  auto s0 = connect(), s1 = connect();
  ElasticGroup g0(connect(), 0, 2, /*node_id=*/0, /*local_rank=*/0, std::chrono::milliseconds(20));
  ElasticGroup g1(connect(), 1, 2, 0, 1, std::chrono::milliseconds(20));
  auto joining = std::async(std::launch::async, [&] { return g1.join(*s1, makeShm(*s1, 1)); });
  auto c0 = g0.join(*s0, makeShm(*s0, 0));
  auto c1 = joining.get();
  g0.watch(c0.get());
  EXPECT_EQ(g0.generation(), 0);
  EXPECT_FALSE(g0.ended());

  std::vector<torch::Tensor> t{torch::ones({4})};
  auto work = c0->allreduce(t, ReduceOp::kSum);  // rank 1 never joins it
  const Clock::time_point start = Clock::now();
  advanceGeneration(*host, 0);  // what rank 1's agent does when it dies
  EXPECT_THROW(work->wait(), CommError);
  EXPECT_LT(secondsSince(start), 5.0);
  EXPECT_TRUE(g0.ended());

  g0.watch(nullptr);
  c0.reset();
  c1.reset();
  auto rejoining = std::async(std::launch::async, [&] { return g1.join(*s1, makeShm(*s1, 1)); });
  c0 = g0.join(*s0, makeShm(*s0, 0));
  c1 = rejoining.get();
  EXPECT_EQ(g0.generation(), 1);
  auto w1 = c1->allreduce(t, ReduceOp::kSum);
  std::vector<torch::Tensor> t0{torch::ones({4})};
  c0->allreduce(t0, ReduceOp::kSum)->wait();
  w1->wait();
  EXPECT_TRUE(torch::equal(t0[0], torch::full({4}, 2.0f)));
}

}  // namespace
}  // namespace trainrun
