// DeviceLossScaler on CPU tensors: the same unscaled gradients, scale, tracker and skipped-step
// count as LossScaler, step by step, through backoffs and growth; a resumed state carried in.
#include "amp/device_loss_scaler.h"

#include <gtest/gtest.h>

#include <cmath>

namespace trainrun {
namespace {

TEST(DeviceLossScaler, FollowsLossScalerThroughBackoffAndGrowth) {
  LossScalerOptions o;
  o.growth_interval = 2;
  LossScaler host(o);
  DeviceLossScaler device(host, torch::kCPU);
  torch::manual_seed(5);
  // Per step: a clean gradient, or one with an inf or a NaN in the second tensor.
  const std::vector<double> poison{1, INFINITY, 1, 1, 1, NAN, 1, 1, 1};
  for (size_t step = 0; step < poison.size(); ++step) {
    std::vector<torch::Tensor> grads{torch::randn({33}) * 1e3,
                                     torch::randn({5}, torch::kBFloat16) * poison[step]};
    std::vector<torch::Tensor> copies{grads[0].clone(), grads[1].clone()};
    const bool found = host.unscaleAndCheck(grads);
    host.update(found);
    device.unscaleAndCheck(copies);
    EXPECT_EQ(device.foundInf().item<float>(), found ? 1.0f : 0.0f) << "step " << step;
    device.update();
    const LossScalerState d = device.read();
    EXPECT_EQ(d.scale, host.scaleValue()) << "step " << step;
    EXPECT_EQ(d.growth_tracker, host.growthTracker()) << "step " << step;
    EXPECT_EQ(d.skipped_steps, host.skippedSteps()) << "step " << step;
    if (!found) {
      EXPECT_TRUE(copies[0].equal(grads[0])) << "step " << step;
      EXPECT_TRUE(copies[1].equal(grads[1])) << "step " << step;
    }
  }
  EXPECT_EQ(host.skippedSteps(), 2);
  EXPECT_EQ(device.scale(torch::tensor(2.0f)).item<float>(), 2.0f * host.scaleValue());
}

TEST(DeviceLossScaler, StartsFromTheHostsStateAndDisabledDoesNothing) {
  LossScaler host;
  host.loadState({1024.0f, 7, 3});  // as a resumed run's checkpoint holds it
  const LossScalerState d = DeviceLossScaler(host, torch::kCPU).read();
  EXPECT_EQ(d.scale, 1024.0f);
  EXPECT_EQ(d.growth_tracker, 7);
  EXPECT_EQ(d.skipped_steps, 3);

  LossScalerOptions off;
  off.enabled = false;
  DeviceLossScaler disabled(LossScaler(off), torch::kCPU);
  std::vector<torch::Tensor> grads{torch::full({2}, INFINITY)};
  disabled.unscaleAndCheck(grads);
  disabled.update();
  EXPECT_EQ(disabled.foundInf().item<float>(), 0.0f);
  EXPECT_EQ(disabled.read().skipped_steps, 0);
  EXPECT_EQ(disabled.scale(torch::tensor(3.0f)).item<float>(), 3.0f);
}

}  // namespace
}  // namespace trainrun
