// The world-of-one communicator (solo/): identity collectives, numbered, that fail once aborted;
// and joining a job alone gives a rank one.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "config/config.h"
#include "core/env.h"
#include "core/error.h"
#include "distributed/init.h"
#include "distributed/solo/solo_communicator.h"
#include "support/scoped_env.h"

namespace trainrun {
namespace {

std::unique_ptr<Communicator> solo() {
  return makeSoloCommunicator(torch::kCPU, std::chrono::milliseconds(5000));
}

TEST(WorldOfOne, IsRankZeroOfOneOnItsDevice) {
  auto comm = solo();
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->size(), 1);
  EXPECT_STREQ(comm->backendName(), "none");  // the run line's backend= for a rank alone
  EXPECT_EQ(comm->device(), torch::Device(torch::kCPU));
  EXPECT_EQ(comm->timeout(), std::chrono::milliseconds(5000));
}

TEST(WorldOfOne, AllreduceOfEveryOpLeavesTheTensorsAsTheyAre) {
  auto comm = solo();
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMax, ReduceOp::kMin}) {
    std::vector<torch::Tensor> t{torch::tensor({1.5, -2.0, 3.0}), torch::arange(4)};
    const torch::Tensor a = t[0].clone(), b = t[1].clone();
    auto work = comm->allreduce(t, op);
    EXPECT_TRUE(work->isCompleted());  // at once: nothing to wait for
    work->wait();
    EXPECT_TRUE(torch::equal(t[0], a));
    EXPECT_TRUE(torch::equal(t[1], b));
  }
}

TEST(WorldOfOne, BroadcastFromRankZeroKeepsTheTensorAndOtherRootsAreErrors) {
  auto comm = solo();
  std::vector<torch::Tensor> t{torch::tensor({7, 8, 9})};
  comm->broadcast(t, 0)->wait();
  EXPECT_TRUE(torch::equal(t[0], torch::tensor({7, 8, 9})));
  EXPECT_THROW(comm->broadcast(t, 1), CommError);
}

TEST(WorldOfOne, AllgatherCopiesTheInputIntoItsOneOutput) {
  auto comm = solo();
  torch::Tensor input = torch::tensor({int64_t{42}, int64_t{-1}});
  std::vector<torch::Tensor> out{torch::zeros({2}, torch::kLong)};
  comm->allgather(out, input)->wait();
  EXPECT_TRUE(torch::equal(out[0], input));
  EXPECT_NE(out[0].data_ptr(), input.data_ptr());  // a copy, not the input itself
  std::vector<torch::Tensor> two{torch::zeros({2}, torch::kLong), torch::zeros({2}, torch::kLong)};
  EXPECT_THROW(comm->allgather(two, input), CommError);
  std::vector<torch::Tensor> wrong{torch::zeros({3}, torch::kLong)};
  EXPECT_THROW(comm->allgather(wrong, input), CommError);
}

TEST(WorldOfOne, NumbersEveryCollectiveInTheFlightRecorderAsCompleted) {
  auto comm = solo();
  comm->setStep(3);
  std::vector<torch::Tensor> t{torch::zeros({4})};  // 16 bytes
  comm->setTag("bucket 0");
  comm->allreduce(t, ReduceOp::kSum)->wait();
  comm->broadcast(t, 0)->wait();
  comm->barrier();
  const std::vector<CollectiveRecord> records = comm->recentCollectives();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].seq, 1u);
  EXPECT_EQ(records[0].op, "allreduce");
  EXPECT_EQ(records[0].bytes, 16);
  EXPECT_EQ(records[0].step, 3);
  EXPECT_EQ(records[0].tag, "bucket 0");
  EXPECT_EQ(records[1].op, "broadcast");
  EXPECT_EQ(records[2].op, "barrier");
  EXPECT_EQ(records[2].seq, 3u);
  for (const CollectiveRecord& r : records)
    EXPECT_EQ(r.state, CollectiveRecord::State::kCompleted) << r.describe();
  EXPECT_EQ(comm->step(), 3);
}

TEST(WorldOfOne, AbortFailsLaterCollectivesAndThrowIfFailed) {
  auto comm = solo();
  EXPECT_NO_THROW(comm->throwIfFailed());
  std::thread([&] { comm->abort(); }).join();  // the one call that may come from elsewhere
  EXPECT_THROW(comm->throwIfFailed(), CommError);
  std::vector<torch::Tensor> t{torch::ones({2})};
  auto work = comm->allreduce(t, ReduceOp::kSum);
  try {
    work->wait();
    FAIL() << "expected CommError";
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("collective #1 (allreduce of 8 bytes"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(comm->barrier(), CommError);
  const std::vector<CollectiveRecord> records = comm->recentCollectives();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].state, CollectiveRecord::State::kFailed);
  EXPECT_EQ(records[1].state, CollectiveRecord::State::kFailed);
}

TEST(WorldOfOne, JoiningAloneGivesARankTheWorldOfOneCommunicator) {
  testing::ScopedEnv env;
  for (const char* name :
       {env::kWorldSize, env::kRank, env::kLocalRank, env::kLocalWorldSize, env::kElastic})
    env.unset(name);
  const config::JobConfig config = config::parseJobConfig("", {"data.name=synthetic"}, "test");
  DistContext dist = initDistributed(config);
  ASSERT_NE(dist.comm, nullptr);
  EXPECT_EQ(dist.store, nullptr);  // no peers: no store
  EXPECT_EQ(dist.comm->size(), 1);
  EXPECT_EQ(dist.comm->device(), dist.device);
  EXPECT_EQ(dist.comm->timeout(), dist.timeout);
  torch::Tensor values = torch::tensor({2.5, 4.0});
  allreduceSum(dist, values);  // the sum over one rank: the values
  EXPECT_TRUE(torch::equal(values, torch::tensor({2.5, 4.0})));
}

}  // namespace
}  // namespace trainrun
