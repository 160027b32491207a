// Shared-memory communicator: what only shm pins (timeout kinds, a peer leaving, joining).
// The contract every backend keeps is in communicator_conformance_test.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "core/error.h"
#include "support/thread_ranks.h"

namespace trainrun {
namespace {

TEST(ShmCommunicator, WaitTimesOutWhenAPeerNeverJoins) {
  ShmOptions options;
  options.timeout = std::chrono::milliseconds(500);
  testing::runShmRanks(
      2,
      [](int rank, Communicator& comm) {
        if (rank == 1) return;  // rank 1 never joins the collective
        std::vector<torch::Tensor> t{torch::ones({4})};
        auto work = comm.allreduce(t, ReduceOp::kSum);
        EXPECT_THROW(work->wait(std::chrono::milliseconds(200)), TimeoutError);
        EXPECT_THROW(work->wait(std::chrono::seconds(5)), TimeoutError);  // the barrier's own
        // The group is out of step now: later collectives fail at once.
        auto next = comm.allreduce(t, ReduceOp::kSum);
        EXPECT_THROW(next->wait(std::chrono::seconds(5)), TimeoutError);
      },
      options);
  EXPECT_EQ(testing::leftoverShmSegments(), 0);
}

TEST(ShmCommunicator, APeerThatTimedOutFirstMakesTheOthersTimeOutToo) {
  // Rank 2 never joins; rank 0 enters 400 ms before rank 1, so its deadline passes first and
  // rank 1 learns of it from the segment: a hang for both (each leaves a dump), not a
  // communication error.
  ShmOptions options;
  options.timeout = std::chrono::milliseconds(600);
  testing::runShmRanks(
      3,
      [](int rank, Communicator& comm) {
        if (rank == 2) return;
        if (rank == 1) std::this_thread::sleep_for(std::chrono::milliseconds(400));
        std::vector<torch::Tensor> t{torch::ones({4})};
        const auto start = std::chrono::steady_clock::now();
        try {
          comm.allreduce(t, ReduceOp::kSum)->wait(std::chrono::seconds(30));
          ADD_FAILURE() << "rank " << rank << ": the allreduce completed without rank 2";
        } catch (const TimeoutError& e) {
          const std::string what = e.what();
          if (rank == 1) {
            EXPECT_NE(what.find("a peer rank timed out first"), std::string::npos) << what;
            EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(550));
          } else {
            EXPECT_NE(what.find("timed out after 600 ms on rank 0"), std::string::npos) << what;
          }
        }
      },
      options);
  EXPECT_EQ(testing::leftoverShmSegments(), 0);
}

TEST(ShmCommunicator, ARankLeavingMidCollectiveFailsItsPeersAtOnce) {
  ShmOptions options;
  options.timeout = std::chrono::seconds(60);
  std::atomic<bool> left{false};
  testing::runShmRanks(
      2,
      [&](int rank, Communicator& comm) {
        std::vector<torch::Tensor> t{torch::ones({1000})};
        if (rank == 1) {
          comm.allreduce(t, ReduceOp::kSum);  // then unwinds without waiting for it
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          return;
        }
        while (!left) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        const auto start = std::chrono::steady_clock::now();
        EXPECT_THROW(comm.allreduce(t, ReduceOp::kSum)->wait(std::chrono::seconds(30)), CommError);
        EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
      },
      options,
      [&](int rank) {
        if (rank == 1) left = true;
      });
}

TEST(ShmCommunicator, JoinTimesOutAndLeavesNothingBehind) {
  auto host = Store::host(0, testing::kStoreTimeout);
  auto store = Store::connect("127.0.0.1", host->port(), testing::kStoreTimeout);
  ShmOptions options;
  options.timeout = std::chrono::milliseconds(300);
  EXPECT_THROW(makeShmCommunicator(*store, "lonely/", 0, 2, options), TimeoutError);
  EXPECT_EQ(testing::leftoverShmSegments(), 0);
}

}  // namespace
}  // namespace trainrun
