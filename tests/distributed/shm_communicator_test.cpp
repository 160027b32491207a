// Shared-memory communicator: exact results across rounds and dtypes, timeouts, no leftovers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "core/error.h"
#include "distributed/thread_ranks.h"

namespace trainrun {
namespace {

// Rank r's input: fresh random values, reproducible by every rank from the seed.
torch::Tensor inputOf(int rank, int64_t n, torch::ScalarType dtype) {
  torch::manual_seed(1000 + rank);
  if (isIntegralType(dtype, /*includeBool=*/false)) return torch::randint(-50, 50, {n}, dtype);
  return torch::randn({n}).to(dtype);
}

// Segments this process left in /dev/shm.
int leftoverSegments() {
  const std::string mine = "trainrun-" + std::to_string(::getpid()) + "-";
  int count = 0;
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm"))
    if (e.path().filename().string().rfind(mine, 0) == 0) ++count;
  return count;
}

ShmOptions smallSlots() {
  ShmOptions o;
  o.slot_bytes = 256;  // many rounds per tensor, and shares that do not divide evenly
  o.timeout = std::chrono::seconds(30);
  return o;
}

TEST(ShmCommunicator, AllreduceIsExactAcrossRoundsAndDtypes) {
  const int kWorld = 3;
  static std::mutex rng_mu;  // ranks are threads: torch's default generator is shared
  testing::runShmRanks(
      kWorld,
      [&](int rank, Communicator& comm) {
        for (auto dtype : {torch::kFloat, torch::kDouble, torch::kBFloat16, torch::kLong}) {
          for (int64_t n : {1, 7, 1001}) {
            std::vector<torch::Tensor> inputs;
            {
              std::lock_guard<std::mutex> lock(rng_mu);
              for (int r = 0; r < kWorld; ++r) inputs.push_back(inputOf(r, n, dtype));
            }
            torch::Tensor sum = inputs[0].clone(), max = inputs[0].clone(), min = inputs[0].clone();
            for (int r = 1; r < kWorld; ++r) {  // in rank order, as the backend reduces
              sum.add_(inputs[r]);
              max = torch::maximum(max, inputs[r]);
              min = torch::minimum(min, inputs[r]);
            }
            std::vector<torch::Tensor> t{inputs[rank].clone()};
            comm.allreduce(t, ReduceOp::kSum)->wait();
            EXPECT_TRUE(torch::equal(t[0], sum)) << dtype << " n=" << n;
            t[0] = inputs[rank].clone();
            comm.allreduce(t, ReduceOp::kMax)->wait();
            EXPECT_TRUE(torch::equal(t[0], max)) << dtype << " n=" << n;
            t[0] = inputs[rank].clone();
            comm.allreduce(t, ReduceOp::kMin)->wait();
            EXPECT_TRUE(torch::equal(t[0], min)) << dtype << " n=" << n;
          }
        }
      },
      smallSlots());
  EXPECT_EQ(leftoverSegments(), 0);
}

TEST(ShmCommunicator, QueuedCollectivesCompleteInIssueOrder) {
  testing::runShmRanks(
      2,
      [](int rank, Communicator& comm) {
        std::vector<torch::Tensor> a{torch::full({100}, double(rank + 1))};
        std::vector<torch::Tensor> b{torch::full({50}, double(10 * (rank + 1)))};
        auto wa = comm.allreduce(a, ReduceOp::kSum);
        auto wb = comm.allreduce(b, ReduceOp::kSum);
        wb->wait();
        EXPECT_TRUE(wa->isCompleted());
        wa->wait();
        EXPECT_TRUE(a[0].eq(3).all().item<bool>());
        EXPECT_TRUE(b[0].eq(30).all().item<bool>());
      },
      smallSlots());
}

TEST(ShmCommunicator, BroadcastAllgatherBarrier) {
  testing::runShmRanks(
      3,
      [](int rank, Communicator& comm) {
        EXPECT_EQ(comm.size(), 3);
        EXPECT_EQ(comm.rank(), rank);
        EXPECT_STREQ(comm.backendName(), "shm");
        std::vector<torch::Tensor> t{torch::arange(200, torch::kFloat) * (rank + 1)};
        comm.broadcast(t, 1)->wait();
        EXPECT_TRUE(torch::equal(t[0], torch::arange(200, torch::kFloat) * 2));

        torch::Tensor mine = torch::full({150}, double(rank), torch::kDouble);
        std::vector<torch::Tensor> all;
        for (int r = 0; r < 3; ++r) all.push_back(torch::full({150}, -1.0, torch::kDouble));
        comm.allgather(all, mine)->wait();
        for (int r = 0; r < 3; ++r) EXPECT_TRUE(all[r].eq(r).all().item<bool>()) << r;
        comm.barrier();
      },
      smallSlots());
}

TEST(ShmCommunicator, RejectsNonContiguousTensors) {
  testing::runShmRanks(1, [](int, Communicator& comm) {
    std::vector<torch::Tensor> t{torch::ones({4, 4}).t()};
    EXPECT_THROW(comm.allreduce(t, ReduceOp::kSum), CommError);
  });
}

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
  EXPECT_EQ(leftoverSegments(), 0);
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
  EXPECT_EQ(leftoverSegments(), 0);
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
  EXPECT_EQ(leftoverSegments(), 0);
}

}  // namespace
}  // namespace trainrun
