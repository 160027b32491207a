// FusedAdamW against LibTorch's AdamW: the same parameters and state after several steps, a
// restored step count honoured, the state layout checkpoints read, and the device-only step.
#include "train/fused_adamw.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"

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

TEST(FusedAdamW, TheDeviceStepMatchesTheHostStepAndSkipsWhereFoundInf) {
  torch::manual_seed(3);
  const torch::Tensor init = torch::randn({6});
  torch::Tensor host_p = init.clone().requires_grad_(true);
  torch::Tensor dev_p = init.clone().requires_grad_(true);
  FusedAdamW host({host_p}, options());
  FusedAdamW dev({dev_p}, options());
  const torch::Tensor lr = torch::zeros({});
  const torch::Tensor found_inf = torch::zeros({});
  const std::vector<double> rates{1.0 / 128, 1.0 / 256, 1.0 / 512};  // exact in fp32
  for (size_t s = 0; s < rates.size(); ++s) {
    const torch::Tensor g = torch::cos(init * double(s + 1));
    host_p.mutable_grad() = g.clone();
    dev_p.mutable_grad() = g.clone();
    host.param_groups()[0].options().set_lr(rates[s]);
    host.step();
    lr.fill_(rates[s]);
    dev.stepOnDevice(lr, found_inf);
    EXPECT_TRUE(dev_p.equal(host_p)) << "step " << s;
  }
  auto& st = static_cast<torch::optim::AdamWParamState&>(*dev.state()[dev_p.unsafeGetTensorImpl()]);
  EXPECT_EQ(st.step(), 0);  // counted on the device only, until pulled
  dev.pullStepCounts();
  EXPECT_EQ(st.step(), 3);

  // A found inf leaves the parameter, its moments and its count alone.
  const torch::Tensor before = dev_p.detach().clone(), avg = st.exp_avg().clone();
  dev_p.mutable_grad() = torch::full({6}, INFINITY);
  found_inf.fill_(1);
  dev.stepOnDevice(lr, found_inf);
  dev.pullStepCounts();
  EXPECT_TRUE(dev_p.equal(before));
  EXPECT_TRUE(st.exp_avg().equal(avg));
  EXPECT_EQ(st.step(), 3);

  // The next clean step is the host optimizer's fourth.
  found_inf.zero_();
  const torch::Tensor g = torch::cos(init * 4.0);
  host_p.mutable_grad() = g.clone();
  dev_p.mutable_grad() = g.clone();
  host.step();
  dev.stepOnDevice(lr, found_inf);
  EXPECT_TRUE(dev_p.equal(host_p));
}

TEST(FusedAdamW, TheDeviceStepRefusesAGroupItCannotFuse) {
  torch::Tensor p = torch::randn({4}).requires_grad_(true);
  FusedAdamW opt({p}, options().amsgrad(true));
  p.mutable_grad() = torch::ones({4});
  EXPECT_THROW(opt.stepOnDevice(torch::full({}, 1e-3), torch::Tensor()), Error);
}

}  // namespace
}  // namespace trainrun
