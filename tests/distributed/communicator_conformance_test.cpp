// Communicator conformance: the one contract every CPU backend (shm, Gloo, hierarchical) keeps.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "support/thread_ranks.h"

namespace trainrun {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using RankFn = std::function<void(int, Communicator&)>;

// One backend under test, over a world of nnodes x local_size thread ranks (the flat backends
// see nnodes * local_size ranks; only the hierarchical one tells nodes apart).
struct Backend {
  std::string name;  // what backendName() says
  int nnodes = 1;
  int local_size = 1;
  // Reduces in rank order on the host: a sum equals the sequential one bit for bit.
  bool exact = false;
  // After a collective failed, the group is out of step and later collectives fail at once.
  bool fails_fast_when_out_of_step = true;
  // Issuing a collective on a non-contiguous tensor throws CommError.
  bool rejects_non_contiguous = true;
  // Reduces several tensors in one call, each on its own (c10d's Gloo reads a list of tensors
  // as one per device and reduces across them too).
  bool several_tensors_per_call = true;
  // A later collective's completion implies every earlier one's (one queue in issue order).
  bool completes_in_issue_order = true;
  std::vector<torch::ScalarType> dtypes{torch::kFloat, torch::kDouble, torch::kLong};

  int world() const { return nnodes * local_size; }
  Backend withLayout(int nodes, int local) const {
    Backend b = *this;
    b.nnodes = nodes;
    b.local_size = local;
    return b;
  }
};

std::ostream& operator<<(std::ostream& os, const Backend& b) {
  return os << b.name << " " << b.nnodes << "x" << b.local_size;
}

Backend shm() {
  Backend b{"shm", 1, 3};
  b.exact = true;
  b.dtypes.push_back(torch::kBFloat16);
  return b;
}
Backend gloo() {
  Backend b{"gloo", 3, 1};
  b.fails_fast_when_out_of_step = false;
  b.rejects_non_contiguous = false;
  b.several_tensors_per_call = false;
  b.completes_in_issue_order = false;
  return b;
}
Backend hierarchical() { return Backend{"hierarchical", 2, 2}; }

std::string testName(const ::testing::TestParamInfo<Backend>& info) {
  const Backend& b = info.param;
  if (b.name != "hierarchical") return b.name + "_" + std::to_string(b.world());
  return b.name + "_" + std::to_string(b.nnodes) + "x" + std::to_string(b.local_size);
}

// Runs the backend's ranks with `timeout` as the group's deadline; small shm slots, so tensors
// of more than a few dozen floats go through in several rounds.
void runRanks(const Backend& b, milliseconds timeout, const RankFn& fn,
              const std::function<void(int)>& after = nullptr) {
  if (b.name == "shm") {
    ShmOptions o;
    o.slot_bytes = 256;
    o.timeout = timeout;
    testing::runShmRanks(b.world(), fn, o, after);
  } else if (b.name == "gloo") {
    GlooOptions o;
    o.timeout = timeout;
    testing::runRanks(b.world(), fn, o, after);
  } else {
    HierarchicalOptions o;
    o.shm.slot_bytes = 256;
    o.timeout = timeout;
    testing::runHierarchicalRanks(b.nnodes, b.local_size, fn, o, after);
  }
}

// Rank r's input: fresh random values, reproducible by every rank from the seed.
torch::Tensor inputOf(int rank, int64_t n, torch::ScalarType dtype) {
  static std::mutex rng_mu;  // ranks are threads: torch's default generator is shared
  std::lock_guard<std::mutex> lock(rng_mu);
  torch::manual_seed(1000 + rank);
  if (isIntegralType(dtype, /*includeBool=*/false)) return torch::randint(-50, 50, {n}, dtype);
  return torch::randn({n}).to(dtype);
}

class CommunicatorConformance : public ::testing::TestWithParam<Backend> {
 protected:
  // Every backend that shares memory leaves no segment behind, whatever the test did.
  void TearDown() override { EXPECT_EQ(testing::leftoverShmSegments(), 0) << GetParam(); }
  void run(const RankFn& fn, milliseconds timeout = seconds(30),
           const std::function<void(int)>& after = nullptr) {
    runRanks(GetParam(), timeout, fn, after);
  }
};

// The same tests over more layouts: values must not depend on how ranks sit on nodes.
class CollectiveValues : public CommunicatorConformance {};

TEST_P(CollectiveValues, AllreduceSumMaxMinAcrossRoundsAndDtypes) {
  const Backend b = GetParam();
  const int world = b.world();
  run([&](int rank, Communicator& comm) {
    EXPECT_EQ(comm.rank(), rank);
    EXPECT_EQ(comm.size(), world);
    EXPECT_STREQ(comm.backendName(), b.name.c_str());
    for (auto dtype : b.dtypes) {
      for (int64_t n : {1, 7, 1001}) {
        std::vector<torch::Tensor> inputs;
        for (int r = 0; r < world; ++r) inputs.push_back(inputOf(r, n, dtype));
        torch::Tensor sum = inputs[0].clone(), max = inputs[0].clone(), min = inputs[0].clone();
        for (int r = 1; r < world; ++r) {  // in rank order, as the exact backends reduce
          sum.add_(inputs[r]);
          max = torch::maximum(max, inputs[r]);
          min = torch::minimum(min, inputs[r]);
        }
        // Two tensors in one call.
        std::vector<torch::Tensor> t{inputs[rank].clone(), inputs[rank].clone() * 2};
        if (!b.several_tensors_per_call) {  // the second tensor in a call of its own
          std::vector<torch::Tensor> second{t[1]};
          comm.allreduce(second, ReduceOp::kSum)->wait();
          t.pop_back();
          comm.allreduce(t, ReduceOp::kSum)->wait();
          t.push_back(second[0]);
        } else {
          comm.allreduce(t, ReduceOp::kSum)->wait();
        }
        if (b.exact) {
          EXPECT_TRUE(torch::equal(t[0], sum)) << dtype << " n=" << n;
          EXPECT_TRUE(torch::equal(t[1], sum * 2)) << dtype << " n=" << n;
        } else {
          torch::Tensor exact_sum = inputs[0].to(torch::kDouble);
          for (int r = 1; r < world; ++r) exact_sum = exact_sum + inputs[r].to(torch::kDouble);
          EXPECT_TRUE(torch::allclose(t[0].to(torch::kDouble), exact_sum, 1e-5, 1e-5))
              << dtype << " n=" << n;
          EXPECT_TRUE(torch::allclose(t[1].to(torch::kDouble), exact_sum * 2, 1e-5, 1e-5))
              << dtype << " n=" << n;
        }
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

TEST_P(CollectiveValues, AllgatherPutsRankRInRowR) {
  const int world = GetParam().world();
  run([&](int rank, Communicator& comm) {
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

TEST_P(CommunicatorConformance, BroadcastFromEveryRoot) {
  const Backend b = GetParam();
  const int world = b.world();
  run([&](int rank, Communicator& comm) {
    // Last root first: with the hierarchical layout 2x2, rank 3 is no leader and on the other
    // node from rank 0.
    for (int root = world - 1; root >= 0; --root) {
      std::vector<torch::Tensor> t{torch::arange(300, torch::kFloat) * (rank + 1),
                                   torch::full({5, 7}, double(rank), torch::kDouble)};
      if (b.several_tensors_per_call) {
        comm.broadcast(t, root)->wait();
      } else {
        for (auto& one : t) {
          std::vector<torch::Tensor> single{one};
          comm.broadcast(single, root)->wait();
        }
      }
      EXPECT_TRUE(torch::equal(t[0], torch::arange(300, torch::kFloat) * (root + 1))) << root;
      EXPECT_TRUE(t[1].eq(root).all().item<bool>()) << root;
    }
  });
}

TEST_P(CommunicatorConformance, BarrierWaitsForEveryRank) {
  const int world = GetParam().world();
  std::atomic<int> arrived{0};
  run([&](int rank, Communicator& comm) {
    if (rank == world - 1) std::this_thread::sleep_for(milliseconds(300));
    ++arrived;
    comm.barrier();
    EXPECT_EQ(arrived.load(), world) << rank;
  });
}

TEST_P(CommunicatorConformance, QueuedCollectivesCompleteInIssueOrder) {
  if (!GetParam().completes_in_issue_order) GTEST_SKIP() << "no single queue in issue order";
  const int world = GetParam().world();
  const double ranks_sum = world * (world + 1) / 2;  // of rank + 1 over every rank
  run([&](int rank, Communicator& comm) {
    std::vector<torch::Tensor> a{torch::full({100}, double(rank + 1))};
    std::vector<torch::Tensor> b{torch::full({50}, double(10 * (rank + 1)))};
    auto wa = comm.allreduce(a, ReduceOp::kSum);
    auto wb = comm.allreduce(b, ReduceOp::kSum);
    wb->wait();
    EXPECT_TRUE(wa->isCompleted());
    wa->wait();
    EXPECT_TRUE(a[0].eq(ranks_sum).all().item<bool>());
    EXPECT_TRUE(b[0].eq(10 * ranks_sum).all().item<bool>());
    const auto records = comm.recentCollectives();
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[1].seq, 2u);
    EXPECT_EQ(records[1].state, CollectiveRecord::State::kCompleted);
  });
}

// Every backend numbers the same collective the same on every rank, with the announced step.
TEST_P(CommunicatorConformance, RecordsItsCollectivesInTheFlightRecorder) {
  run([](int, Communicator& comm) {
    std::vector<torch::Tensor> t{torch::ones({4})};
    comm.setStep(3);
    comm.allreduce(t, ReduceOp::kSum)->wait();
    comm.broadcast(t, 0)->wait();
    const auto records = comm.recentCollectives();
    ASSERT_GE(records.size(), 2u);
    const auto& last = records.back();
    EXPECT_EQ(last.op, "broadcast");
    EXPECT_EQ(last.bytes, 16);
    EXPECT_EQ(last.step, 3);
    EXPECT_EQ(last.state, CollectiveRecord::State::kCompleted);
    EXPECT_EQ(records[records.size() - 2].op, "allreduce");
    EXPECT_EQ(last.seq, records[records.size() - 2].seq + 1);
  });
}

TEST_P(CommunicatorConformance, RejectsNonContiguousTensors) {
  const Backend b = GetParam().withLayout(1, 1);
  if (!b.rejects_non_contiguous) GTEST_SKIP() << b.name << " reduces strided tensors itself";
  runRanks(b, seconds(30), [](int, Communicator& comm) {
    std::vector<torch::Tensor> t{torch::ones({4, 4}).t()};
    EXPECT_THROW(comm.allreduce(t, ReduceOp::kSum), CommError);
  });
}

// The last rank leaves right after every rank joined: the others' collective fails within the
// group's deadline, and the error names the collective by number, op, size and step.
TEST_P(CommunicatorConformance, ACollectiveAPeerNeverJoinsFailsNamingIt) {
  const int world = GetParam().world();
  std::atomic<int> joined{0};
  run(
      [&](int rank, Communicator& comm) {
        ++joined;
        if (rank == world - 1) {  // never joins the collective: it leaves once every rank has
          // its communicator (leaving while the others still connect would fail their set-up)
          while (joined < world) std::this_thread::sleep_for(milliseconds(1));
          return;
        }
        comm.setStep(5);
        std::vector<torch::Tensor> t{torch::ones({4})};
        auto work = comm.allreduce(t, ReduceOp::kSum);
        EXPECT_THROW(work->wait(milliseconds(300)), Error);
        try {
          // Longer than the group's deadline: the backend's own deadline ends the wait.
          work->wait(seconds(10));
          ADD_FAILURE() << "rank " << rank << ": the allreduce completed without the last rank";
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("collective #1 (allreduce of 16 bytes at step 5)"),
                    std::string::npos)
              << e.what();
        }
        EXPECT_EQ(comm.recentCollectives().back().state, CollectiveRecord::State::kFailed);
      },
      milliseconds(500));
}

// The last rank stays but never joins collective #2: a short wait is a TimeoutError naming #2,
// the group's deadline ends the wait, and the group is out of step after it.
TEST_P(CommunicatorConformance, TimeoutNamesTheSequenceNumberWhenAPeerNeverJoins) {
  const Backend b = GetParam();
  const int world = b.world();
  std::atomic<int> timed_out{0};
  run(
      [&](int rank, Communicator& comm) {
        std::vector<torch::Tensor> t{torch::ones({4})};
        comm.allreduce(t, ReduceOp::kSum)->wait();  // collective #1: everyone
        if (rank == world - 1) {  // alive but never joins #2 (leaving would fail the others)
          while (timed_out < world - 1) std::this_thread::sleep_for(milliseconds(10));
          return;
        }
        auto work = comm.allreduce(t, ReduceOp::kSum);
        try {
          work->wait(milliseconds(300));
          ADD_FAILURE() << "rank " << rank << ": collective #2 completed without the last rank";
        } catch (const TimeoutError& e) {
          EXPECT_NE(std::string(e.what()).find("collective #2 (allreduce"), std::string::npos)
              << e.what();
        }
        ++timed_out;
        // The group's own deadline ends it (a timeout, or a peer leaving first).
        const auto start = std::chrono::steady_clock::now();
        EXPECT_THROW(work->wait(), Error);
        EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(10));
        // The group is out of step now: later collectives fail.
        const auto next_start = std::chrono::steady_clock::now();
        EXPECT_THROW(comm.allreduce(t, ReduceOp::kSum)->wait(seconds(5)), Error);
        if (b.fails_fast_when_out_of_step) {
          EXPECT_LT(std::chrono::steady_clock::now() - next_start, seconds(1));
        }
        EXPECT_EQ(comm.recentCollectives().back().state, CollectiveRecord::State::kFailed);
      },
      seconds(2));  // the group's deadline: bounds the teardown too
}

INSTANTIATE_TEST_SUITE_P(Backends, CommunicatorConformance,
                         ::testing::Values(shm(), gloo(), hierarchical()), testName);

INSTANTIATE_TEST_SUITE_P(Layouts, CollectiveValues,
                         ::testing::Values(shm(), gloo(), hierarchical(),
                                           hierarchical().withLayout(1, 3),
                                           hierarchical().withLayout(3, 1),
                                           hierarchical().withLayout(2, 3)),
                         testName);

}  // namespace
}  // namespace trainrun
