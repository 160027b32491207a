// Hierarchical communicator: "nodes" of thread ranks (shm within, Gloo across) equal flat results.
#include "distributed/hierarchical/hierarchical_communicator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "distributed/thread_ranks.h"

namespace trainrun {
namespace {

// Small shm slots: tensors of more than a few dozen floats go through in several rounds.
HierarchicalOptions smallSlots() {
  HierarchicalOptions o;
  o.shm.slot_bytes = 256;
  o.timeout = std::chrono::seconds(30);
  return o;
}

// Runs nnodes x local_size thread ranks, node-major, each with a hierarchical communicator.
void runHierRanks(int nnodes, int local_size, const std::function<void(int, Communicator&)>& fn,
                  HierarchicalOptions options = smallSlots()) {
  testing::runRanksWith(
      nnodes * local_size,
      [&](Store& store, int rank, int size) {
        return makeHierarchicalCommunicator(store, "test/", rank, size, rank % local_size,
                                            local_size, rank / local_size, nnodes, options);
      },
      fn);
}

// Rank r's input: random values every rank can reproduce.
torch::Tensor inputOf(int rank, int64_t n, torch::ScalarType dtype) {
  static std::mutex rng_mu;  // ranks are threads: torch's default generator is shared
  std::lock_guard<std::mutex> lock(rng_mu);
  torch::manual_seed(2000 + rank);
  if (isIntegralType(dtype, /*includeBool=*/false)) return torch::randint(-50, 50, {n}, dtype);
  return torch::randn({n}).to(dtype);
}

struct Layout {
  int nnodes;
  int local_size;
};

TEST(HierarchicalCommunicator, AllreduceEqualsTheFlatReduction) {
  for (Layout layout : {Layout{2, 2}, Layout{1, 3}, Layout{3, 1}, Layout{2, 3}}) {
    const int world = layout.nnodes * layout.local_size;
    runHierRanks(layout.nnodes, layout.local_size, [&](int rank, Communicator& comm) {
      EXPECT_EQ(comm.rank(), rank);
      EXPECT_EQ(comm.size(), world);
      EXPECT_STREQ(comm.backendName(), "hierarchical");
      for (auto dtype : {torch::kFloat, torch::kDouble, torch::kLong}) {
        for (int64_t n : {1, 7, 1001}) {
          std::vector<torch::Tensor> inputs;
          for (int r = 0; r < world; ++r) inputs.push_back(inputOf(r, n, dtype));
          torch::Tensor sum = inputs[0].to(torch::kDouble), max = inputs[0], min = inputs[0];
          for (int r = 1; r < world; ++r) {
            sum = sum + inputs[r].to(torch::kDouble);
            max = torch::maximum(max, inputs[r]);
            min = torch::minimum(min, inputs[r]);
          }
          // Two tensors of different shapes in one call.
          std::vector<torch::Tensor> t{inputs[rank].clone(), inputs[rank].clone() * 2};
          comm.allreduce(t, ReduceOp::kSum)->wait();
          EXPECT_TRUE(torch::allclose(t[0].to(torch::kDouble), sum, 1e-5, 1e-5)) << dtype << n;
          EXPECT_TRUE(torch::allclose(t[1].to(torch::kDouble), sum * 2, 1e-5, 1e-5)) << dtype;
          std::vector<torch::Tensor> m{inputs[rank].clone()};
          comm.allreduce(m, ReduceOp::kMax)->wait();
          EXPECT_TRUE(torch::equal(m[0], max)) << dtype << " n=" << n;
          m[0] = inputs[rank].clone();
          comm.allreduce(m, ReduceOp::kMin)->wait();
          EXPECT_TRUE(torch::equal(m[0], min)) << dtype << " n=" << n;
        }
      }
    });
  }
}

TEST(HierarchicalCommunicator, BroadcastFromEveryRootIncludingNonLeadersOnOtherNodes) {
  runHierRanks(2, 2, [](int rank, Communicator& comm) {
    for (int root : {3, 1, 2, 0}) {  // 3: not a leader, and on the other node from rank 0
      std::vector<torch::Tensor> t{torch::arange(300, torch::kFloat) * (rank + 1),
                                   torch::full({5, 7}, double(rank), torch::kDouble)};
      comm.broadcast(t, root)->wait();
      EXPECT_TRUE(torch::equal(t[0], torch::arange(300, torch::kFloat) * (root + 1))) << root;
      EXPECT_TRUE(t[1].eq(root).all().item<bool>()) << root;
    }
  });
}

TEST(HierarchicalCommunicator, AllgatherPutsRankRInRowR) {
  for (Layout layout : {Layout{2, 2}, Layout{3, 1}, Layout{1, 2}}) {
    const int world = layout.nnodes * layout.local_size;
    runHierRanks(layout.nnodes, layout.local_size, [&](int rank, Communicator& comm) {
      torch::Tensor mine = torch::arange(150, torch::kDouble).view({3, 50}) + 1000.0 * rank;
      std::vector<torch::Tensor> all;
      for (int r = 0; r < world; ++r) all.push_back(torch::full({3, 50}, -1.0, torch::kDouble));
      comm.allgather(all, mine)->wait();
      for (int r = 0; r < world; ++r)
        EXPECT_TRUE(
            torch::equal(all[r], torch::arange(150, torch::kDouble).view({3, 50}) + 1000.0 * r))
            << r;
    });
  }
}

TEST(HierarchicalCommunicator, BarrierWaitsForEveryRankOnEveryNode) {
  std::atomic<int> arrived{0};
  runHierRanks(2, 2, [&](int rank, Communicator& comm) {
    if (rank == 3) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ++arrived;
    comm.barrier();
    EXPECT_EQ(arrived.load(), 4) << rank;
  });
}

TEST(HierarchicalCommunicator, QueuedCollectivesCompleteInIssueOrder) {
  runHierRanks(2, 2, [](int rank, Communicator& comm) {
    std::vector<torch::Tensor> a{torch::full({100}, double(rank + 1))};
    std::vector<torch::Tensor> b{torch::full({50}, double(10 * (rank + 1)))};
    auto wa = comm.allreduce(a, ReduceOp::kSum);
    auto wb = comm.allreduce(b, ReduceOp::kSum);
    wb->wait();
    EXPECT_TRUE(wa->isCompleted());
    wa->wait();
    EXPECT_TRUE(a[0].eq(10).all().item<bool>());
    EXPECT_TRUE(b[0].eq(100).all().item<bool>());
    const auto records = comm.recentCollectives();
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[1].seq, 2u);
    EXPECT_EQ(records[1].state, CollectiveRecord::State::kCompleted);
  });
}

TEST(HierarchicalCommunicator, TimeoutNamesTheSequenceNumberWhenAPeerNeverJoins) {
  HierarchicalOptions options = smallSlots();
  options.timeout = std::chrono::seconds(2);  // the group's deadline: bounds the teardown too
  std::atomic<int> timed_out{0};
  runHierRanks(
      2, 2,
      [&](int rank, Communicator& comm) {
        std::vector<torch::Tensor> t{torch::ones({4})};
        comm.allreduce(t, ReduceOp::kSum)->wait();  // collective #1: everyone
        if (rank == 3) {  // alive but never joins #2 (leaving would fail the others at once)
          while (timed_out < 3) std::this_thread::sleep_for(std::chrono::milliseconds(10));
          return;
        }
        auto work = comm.allreduce(t, ReduceOp::kSum);
        try {
          work->wait(std::chrono::milliseconds(300));
          ADD_FAILURE() << "rank " << rank << ": collective #2 completed without rank 3";
        } catch (const TimeoutError& e) {
          EXPECT_NE(std::string(e.what()).find("collective #2 (allreduce"), std::string::npos)
              << e.what();
        }
        ++timed_out;
        // The group's own deadline ends it (a timeout, or a peer leaving first).
        const auto start = std::chrono::steady_clock::now();
        EXPECT_THROW(work->wait(), Error);
        EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
        // The group is out of step now: later collectives fail at once.
        const auto next_start = std::chrono::steady_clock::now();
        EXPECT_THROW(comm.allreduce(t, ReduceOp::kSum)->wait(std::chrono::seconds(5)), Error);
        EXPECT_LT(std::chrono::steady_clock::now() - next_start, std::chrono::seconds(1));
        EXPECT_EQ(comm.recentCollectives().back().state, CollectiveRecord::State::kFailed);
      },
      options);
}

TEST(HierarchicalCommunicator, RejectsAnInconsistentLayout) {
  auto host = Store::host(0, testing::kStoreTimeout);
  auto store = Store::connect("127.0.0.1", host->port(), testing::kStoreTimeout);
  // 5 ranks cannot be 2 nodes of 2; rank 1 of node 1 is rank 3, not 1.
  EXPECT_THROW(makeHierarchicalCommunicator(*store, "x/", 0, 5, 0, 2, 0, 2), ConfigError);
  EXPECT_THROW(makeHierarchicalCommunicator(*store, "x/", 1, 4, 1, 2, 1, 2), ConfigError);
}

TEST(HierarchicalCommunicator, RejectsNonContiguousTensors) {
  runHierRanks(1, 1, [](int, Communicator& comm) {
    std::vector<torch::Tensor> t{torch::ones({4, 4}).t()};
    EXPECT_THROW(comm.allreduce(t, ReduceOp::kSum), CommError);
  });
}

}  // namespace
}  // namespace trainrun
