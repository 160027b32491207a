// FusedAdamW against LibTorch's AdamW: the same parameters and state after several steps, a
// restored step count honoured, and the state layout checkpoints read.
#include "train/fused_adamw.h"

#include <gtest/gtest.h>

namespace trainrun {
namespace {

torch::optim::AdamWOptions options() {
  return torch::optim::AdamWOptions(1e-2).betas({0.9, 0.95}).eps(1e-8).weight_decay(0.1);
}

// Runs `steps` steps of `make`'s optimizer on fixed gradients; returns the parameters.
template <typename Opt>
std::vector<torch::Tensor> train(int steps, int64_t start_step = 0) {
  torch::manual_seed(7);
  std::vector<torch::Tensor> params{torch::randn({5, 3}).requires_grad_(true),
                                    torch::randn({7}).requires_grad_(true)};
  Opt opt(params, options());
  for (int s = 0; s < steps; ++s) {
    for (auto& p : params) p.mutable_grad() = torch::sin(p.detach() * (s + 1));
    if (s == 0 && start_step > 0) {
      opt.step();  // creates the state, then pretend it was restored at start_step
      for (auto& p : params)
        static_cast<torch::optim::AdamWParamState&>(*opt.state()[p.unsafeGetTensorImpl()])
            .step(start_step);
      continue;
    }
    opt.step();
  }
  return params;
}

TEST(FusedAdamW, MatchesLibTorchAdamW) {
  auto fused = train<FusedAdamW>(6);
  auto reference = train<torch::optim::AdamW>(6);
  for (size_t i = 0; i < fused.size(); ++i)
    EXPECT_TRUE(torch::allclose(fused[i], reference[i], 1e-5, 1e-6))
        << (fused[i] - reference[i]).abs().max().item<double>();
}

TEST(FusedAdamW, HonoursARestoredStepCount) {
  // Bias correction depends on the step: a restored count must reach the fused kernel.
  auto fused = train<FusedAdamW>(4, /*start_step=*/100);
  auto reference = train<torch::optim::AdamW>(4, /*start_step=*/100);
  for (size_t i = 0; i < fused.size(); ++i)
    EXPECT_TRUE(torch::allclose(fused[i], reference[i], 1e-5, 1e-6))
        << (fused[i] - reference[i]).abs().max().item<double>();
}

TEST(FusedAdamW, KeepsAdamWsStateLayout) {
  torch::Tensor p = torch::randn({4}).requires_grad_(true);
  FusedAdamW opt({p}, options());
  p.mutable_grad() = torch::ones({4});
  opt.step();
  opt.step();
  auto* st =
      dynamic_cast<torch::optim::AdamWParamState*>(opt.state()[p.unsafeGetTensorImpl()].get());
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(st->step(), 2);
  EXPECT_EQ(st->exp_avg().sizes(), p.sizes());
  EXPECT_EQ(st->exp_avg_sq().sizes(), p.sizes());
}

}  // namespace
}  // namespace trainrun
