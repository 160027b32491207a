// Reducer: averaged gradients match a single-process reference; all-reduce overlaps backward.
#include "ddp/reducer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <mutex>

#include "models/mlp.h"
#include "support/thread_ranks.h"

namespace trainrun {
namespace {

constexpr int kWorld = 2;

// Deterministic per-rank batch: (8, 16) inputs, labels in [0, 4).
// Ranks run as threads, so nothing here may race on the global RNG: batches use their own
// generator, and model creation (seed + init from the global RNG) is serialized.
std::pair<torch::Tensor, torch::Tensor> batchFor(int rank) {
  at::Generator gen = at::detail::createCPUGenerator(100 + rank);
  return {at::randn({8, 16}, gen), at::randint(0, 4, {8}, gen)};
}

std::shared_ptr<Mlp> makeMlp() {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  torch::manual_seed(7);
  return std::make_shared<Mlp>(std::vector<int64_t>{16, 32, 32, 32, 4});
}

// Gradients a single process gets for the mean loss over both ranks' batches.
std::vector<torch::Tensor> referenceGrads() {
  auto m = makeMlp();
  for (int r = 0; r < kWorld; ++r) {
    auto [x, y] = batchFor(r);
    (torch::cross_entropy_loss(m->forward(x), y) / double(kWorld)).backward();
  }
  std::vector<torch::Tensor> g;
  for (auto& p : m->parameters()) g.push_back(p.grad().clone());
  return g;
}

TEST(Reducer, AveragesGradientsAcrossRanks) {
  const auto expected = referenceGrads();
  for (double cap_mb : {25.0, 0.0001}) {  // one bucket; one bucket per parameter
    testing::runRanks(kWorld, [&](int rank, Communicator& comm) {
      auto m = makeMlp();
      ReducerOptions opts;
      opts.first_bucket_mb = opts.bucket_cap_mb = cap_mb;
      Reducer reducer(m->parameters(), &comm, opts);
      for (int step = 0; step < 2; ++step) {  // second step checks zeroGrad + reuse
        reducer.zeroGrad();
        auto [x, y] = batchFor(rank);
        reducer.prepareForBackward(true);
        torch::cross_entropy_loss(m->forward(x), y).backward();
        reducer.finalizeBackward();
        auto params = m->parameters();
        for (size_t i = 0; i < params.size(); ++i)
          EXPECT_TRUE(torch::allclose(params[i].grad(), expected[i], 1e-5, 1e-6))
              << "param " << i << " cap " << cap_mb;
      }
    });
  }
}

TEST(Reducer, CompressedBucketsSendHalfTheBytesAndAverageWithinTheWireTypesRounding) {
  const auto expected = referenceGrads();
  for (auto [wire, tol] : {std::pair{torch::kHalf, 2e-3}, std::pair{torch::kBFloat16, 1.6e-2}}) {
    testing::runRanks(kWorld, [&, wire = wire, tol = tol](int rank, Communicator& comm) {
      auto m = makeMlp();
      ReducerOptions opts;
      opts.first_bucket_mb = opts.bucket_cap_mb = 0.0001;  // one bucket per parameter
      opts.wire_type = wire;
      Reducer reducer(m->parameters(), &comm, opts);
      reducer.zeroGrad();
      auto [x, y] = batchFor(rank);
      reducer.prepareForBackward(true);
      torch::cross_entropy_loss(m->forward(x), y).backward();
      reducer.finalizeBackward();
      auto params = m->parameters();
      int64_t numel = 0, sent = 0;
      for (const auto& p : params) numel += p.numel();
      for (const BucketTrace& t : reducer.lastTrace()) sent += t.bytes;
      EXPECT_EQ(sent, numel * 2);  // 2-byte wire elements
      for (size_t i = 0; i < params.size(); ++i) {
        EXPECT_EQ(params[i].grad().scalar_type(), torch::kFloat);  // master gradients stay fp32
        const double err = (params[i].grad() - expected[i]).abs().max().item<double>();
        const double scale = expected[i].abs().max().item<double>();
        EXPECT_LE(err, tol * scale) << "param " << i << " wire " << wire;
        EXPECT_GT(err, 0.0) << "param " << i << ": rounded to the wire type, not exact";
      }
    });
  }
}

TEST(Reducer, FirstBucketLaunchesBeforeBackwardFinishes) {
  testing::runRanks(kWorld, [&](int rank, Communicator& comm) {
    auto m = makeMlp();
    ReducerOptions opts;
    opts.first_bucket_mb = opts.bucket_cap_mb = 0.0001;  // every parameter its own bucket
    Reducer reducer(m->parameters(), &comm, opts);
    ASSERT_GT(reducer.buckets().size(), 4u);
    auto [x, y] = batchFor(rank);
    reducer.zeroGrad();
    reducer.prepareForBackward(true);
    torch::cross_entropy_loss(m->forward(x), y).backward();
    const Clock::time_point backward_done = Clock::now();
    reducer.finalizeBackward();
    const auto& trace = reducer.lastTrace();
    // When the first bucket (last layer) went out, most gradients were still to come...
    EXPECT_GT(trace.front().pending_grads_at_launch, 0);
    EXPECT_LT(trace.front().launched, backward_done);
    // ...and the last one launched when backward had produced every gradient.
    EXPECT_EQ(trace.back().pending_grads_at_launch, 0);
  });
}

TEST(Reducer, NonSyncMicroStepsOnlyAccumulate) {
  testing::runRanks(kWorld, [&](int rank, Communicator& comm) {
    auto m = makeMlp();
    Reducer reducer(m->parameters(), &comm, ReducerOptions{});
    auto [x, y] = batchFor(rank);
    reducer.zeroGrad();
    reducer.prepareForBackward(false);
    torch::cross_entropy_loss(m->forward(x), y).backward();
    reducer.finalizeBackward();
    // Local gradient only: rank 0 and rank 1 differ (they saw different batches).
    std::vector<torch::Tensor> g{m->parameters().back().grad().clone()};
    std::vector<torch::Tensor> all{torch::zeros_like(g[0]), torch::zeros_like(g[0])};
    comm.allgather(all, g[0])->wait();
    EXPECT_FALSE(torch::allclose(all[0], all[1]));
  });
}

TEST(BroadcastFromRank0, CopiesRankZerosValues) {
  testing::runRanks(kWorld, [&](int rank, Communicator& comm) {
    std::vector<torch::Tensor> t{torch::full({3}, double(rank)), torch::full({2}, rank + 10L)};
    broadcastFromRank0(comm, t);
    EXPECT_TRUE(t[0].eq(0).all().item<bool>());
    EXPECT_TRUE(t[1].eq(10).all().item<bool>());
  });
}

}  // namespace
}  // namespace trainrun
