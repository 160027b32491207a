// fp16 step protocol across ranks: an inf on one rank makes every rank skip the same step.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "amp/loss_scaler.h"
#include "ddp/reducer.h"
#include "models/mlp.h"
#include "support/thread_ranks.h"

namespace trainrun {
namespace {

// One training step as the Trainer takes it with a loss scaler: scaled backward, bucketed
// all-reduce, unscale + inf check on the averaged gradients, step unless found, update.
// Returns whether the step was skipped.
bool scaledStep(Mlp& model, Reducer& reducer, LossScaler& scaler, torch::optim::SGD& opt,
                const torch::Tensor& x, const torch::Tensor& y, double poison) {
  reducer.zeroGrad();
  reducer.prepareForBackward(true);
  torch::Tensor loss = torch::cross_entropy_loss(model.forward(x), y) * poison;
  scaler.scale(loss).backward();
  reducer.finalizeBackward();
  std::vector<torch::Tensor> grads;
  for (auto& p : model.parameters()) grads.push_back(p.grad());
  const bool found_inf = scaler.unscaleAndCheck(grads);
  if (!found_inf) opt.step();
  scaler.update(found_inf);
  return found_inf;
}

TEST(MixedPrecisionProtocol, InfOnOneRankSkipsTheSameStepEverywhere) {
  testing::runRanks(2, [](int rank, Communicator& comm) {
    Mlp model({8, 16, 4});
    broadcastFromRank0(comm, model.parameters());  // as the Trainer does: identical replicas
    Reducer reducer(model.parameters(), &comm, ReducerOptions{});
    LossScalerOptions so;
    so.growth_interval = 2;
    LossScaler scaler(so);
    torch::optim::SGD opt(model.parameters(), torch::optim::SGDOptions(0.1));
    at::Generator gen = at::detail::createCPUGenerator(100 + rank);  // threads: no global RNG
    torch::Tensor x = at::randn({4, 8}, gen), y = at::randint(0, 4, {4}, gen);

    std::vector<bool> skipped;
    for (int step = 0; step < 4; ++step) {
      // Step 1: rank 1 alone overflows (an inf in its loss, so in its gradients).
      const double poison = (step == 1 && rank == 1) ? INFINITY : 1.0;
      torch::Tensor before = model.parameters()[0].detach().clone();
      skipped.push_back(scaledStep(model, reducer, scaler, opt, x, y, poison));
      EXPECT_EQ(model.parameters()[0].equal(before), skipped.back()) << "step " << step;
    }
    EXPECT_EQ(skipped, (std::vector<bool>{false, true, false, false}));
    EXPECT_EQ(scaler.skippedSteps(), 1);
    // 2^16, backoff to 2^15 at step 1, then growth after 2 clean steps: 2^16.
    EXPECT_FLOAT_EQ(scaler.scaleValue(), 65536.0f);
    // Both replicas still hold the same parameters.
    std::vector<torch::Tensor> all{torch::empty({16, 8}), torch::empty({16, 8})};
    torch::Tensor mine = model.parameters()[0].detach().contiguous();
    comm.allgather(all, mine)->wait();
    EXPECT_TRUE(all[0].equal(all[1]));
  });
}

}  // namespace
}  // namespace trainrun
