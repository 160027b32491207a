// Gloo communicator: collectives give the right values across real ranks; timeouts throw.
#include <gtest/gtest.h>

#include "core/error.h"
#include "distributed/thread_ranks.h"

namespace trainrun {
namespace {

TEST(GlooCommunicator, AllreduceSumMaxMin) {
  testing::runRanks(3, [](int rank, Communicator& comm) {
    std::vector<torch::Tensor> t{torch::full({5}, double(rank + 1))};
    comm.allreduce(t, ReduceOp::kSum)->wait();
    EXPECT_TRUE(t[0].eq(6).all().item<bool>());
    t[0].fill_(rank);
    comm.allreduce(t, ReduceOp::kMax)->wait();
    EXPECT_TRUE(t[0].eq(2).all().item<bool>());
    t[0].fill_(rank);
    comm.allreduce(t, ReduceOp::kMin)->wait();
    EXPECT_TRUE(t[0].eq(0).all().item<bool>());
  });
}

TEST(GlooCommunicator, BroadcastAllgatherBarrier) {
  testing::runRanks(2, [](int rank, Communicator& comm) {
    EXPECT_EQ(comm.size(), 2);
    EXPECT_EQ(comm.rank(), rank);
    std::vector<torch::Tensor> t{torch::full({3}, double(rank + 7))};
    comm.broadcast(t, 0)->wait();
    EXPECT_TRUE(t[0].eq(7).all().item<bool>());

    torch::Tensor mine = torch::full({2}, double(rank));
    std::vector<torch::Tensor> all{torch::full({2}, -1.0), torch::full({2}, -1.0)};
    comm.allgather(all, mine)->wait();
    EXPECT_TRUE(all[0].eq(0).all().item<bool>());
    EXPECT_TRUE(all[1].eq(1).all().item<bool>());
    comm.barrier();
  });
}

TEST(GlooCommunicator, WaitTimesOutWhenAPeerNeverJoins) {
  GlooOptions options;
  options.timeout = std::chrono::milliseconds(500);
  testing::runRanks(
      2,
      [](int rank, Communicator& comm) {
        if (rank == 1) return;  // rank 1 never joins the collective
        std::vector<torch::Tensor> t{torch::ones({4})};
        auto work = comm.allreduce(t, ReduceOp::kSum);
        EXPECT_THROW(work->wait(std::chrono::milliseconds(300)), Error);
      },
      options);
}

}  // namespace
}  // namespace trainrun
