// LossScaler on CPU: GradScaler's update rule, the fused unscale numerics, state round trip.
#include "amp/loss_scaler.h"

#include <gtest/gtest.h>

#include <random>

#include "core/error.h"

namespace trainrun {
namespace {

uint64_t seed() {
  static const uint64_t s = std::random_device{}();
  return s;
}

TEST(LossScaler, DefaultsAreGradScalers) {
  LossScalerOptions o;
  EXPECT_EQ(o.init_scale, 65536.0);
  EXPECT_EQ(o.growth_factor, 2.0);
  EXPECT_EQ(o.backoff_factor, 0.5);
  EXPECT_EQ(o.growth_interval, 2000);
  LossScaler s;
  EXPECT_EQ(s.scaleValue(), 65536.0f);
  EXPECT_EQ(s.growthTracker(), 0);
  EXPECT_EQ(s.skippedSteps(), 0);
}

TEST(LossScaler, ScaleMultipliesLossKeepingDtype) {
  LossScaler s;
  auto loss = torch::tensor(0.25f);  // ()
  EXPECT_EQ(s.scale(loss).item<float>(), 16384.0f);
  EXPECT_EQ(s.scale(loss.to(torch::kHalf)).scalar_type(), torch::kHalf);
}

TEST(LossScaler, BacksOffOnInjectedInfOrNanAndResetsTracker) {
  for (float bad : {INFINITY, NAN}) {
    LossScaler s;
    s.update(false);
    s.update(false);
    ASSERT_EQ(s.growthTracker(), 2);
    std::vector<torch::Tensor> grads{torch::ones({4}), torch::ones({3})};
    grads[0][2] = bad;
    const bool found = s.unscaleAndCheck(grads);
    EXPECT_TRUE(found);
    s.update(found);
    EXPECT_EQ(s.scaleValue(), 32768.0f);
    EXPECT_EQ(s.growthTracker(), 0);
    EXPECT_EQ(s.skippedSteps(), 1);
  }
}

TEST(LossScaler, GrowsAfterGrowthIntervalFiniteSteps) {
  LossScalerOptions o;
  o.growth_interval = 3;
  LossScaler s(o);
  s.update(false);
  s.update(false);
  EXPECT_EQ(s.scaleValue(), 65536.0f);  // interval not reached: no growth
  EXPECT_EQ(s.growthTracker(), 2);
  s.update(false);
  EXPECT_EQ(s.scaleValue(), 131072.0f);
  EXPECT_EQ(s.growthTracker(), 0);
  EXPECT_EQ(s.skippedSteps(), 0);
}

TEST(LossScaler, OverflowInsideIntervalRestartsTheCount) {
  LossScalerOptions o;
  o.growth_interval = 3;
  LossScaler s(o);
  s.update(false);
  s.update(false);
  s.update(true);  // 32768, tracker 0
  s.update(false);
  s.update(false);
  EXPECT_EQ(s.scaleValue(), 32768.0f);
  s.update(false);
  EXPECT_EQ(s.scaleValue(), 65536.0f);
}

TEST(LossScaler, NeverGrowsToInfinity) {
  LossScalerOptions o;
  o.init_scale = 3e38;
  o.growth_interval = 1;
  LossScaler s(o);
  s.update(false);
  EXPECT_EQ(s.scaleValue(), 3e38f);
  EXPECT_EQ(s.growthTracker(), 0);
}

TEST(LossScaler, CustomFactorsAndBadOptions) {
  LossScalerOptions o;
  o.init_scale = 1024;
  o.backoff_factor = 0.25;
  o.growth_factor = 4;
  o.growth_interval = 1;
  LossScaler s(o);
  s.update(true);
  EXPECT_EQ(s.scaleValue(), 256.0f);
  s.update(false);
  EXPECT_EQ(s.scaleValue(), 1024.0f);
  o.backoff_factor = 1.5;
  EXPECT_THROW(LossScaler{o}, ConfigError);
}

TEST(LossScaler, StateRoundTripsThroughStructAndTensorDict) {
  LossScalerOptions o;
  o.growth_interval = 10;
  LossScaler a(o);
  a.update(true);
  a.update(false);
  a.update(false);
  LossScaler b(o), c(o);
  b.loadState(a.state());
  c.loadStateDict(a.stateDict());
  for (LossScaler* s : {&b, &c}) {
    EXPECT_EQ(s->scaleValue(), 32768.0f);
    EXPECT_EQ(s->growthTracker(), 2);
    EXPECT_EQ(s->skippedSteps(), 1);
  }
  auto dict = a.stateDict();
  dict.erase("growth_tracker");
  EXPECT_THROW(c.loadStateDict(dict), Error);
}

TEST(LossScaler, UnscaleMatchesReferenceForFp32AndBf16AndFp16) {
  torch::manual_seed(seed());
  LossScalerOptions o;
  o.init_scale = 3.0;  // an inverse that is not a power of two exercises the rounding
  LossScaler s(o);
  const float inv = static_cast<float>(1.0 / 3.0);
  for (auto dtype : {torch::kFloat, torch::kBFloat16, torch::kHalf}) {
    SCOPED_TRACE(c10::toString(dtype));
    std::vector<torch::Tensor> grads{(torch::randn({17, 33}) * 100).to(dtype),
                                     (torch::randn({300000}) * 1e-2).to(dtype),  // split in pieces
                                     torch::Tensor()};                           // no grad: skipped
    std::vector<torch::Tensor> expected;
    for (int i = 0; i < 2; ++i) expected.push_back((grads[i].to(torch::kFloat) * inv).to(dtype));
    EXPECT_FALSE(s.unscaleAndCheck(grads));
    for (int i = 0; i < 2; ++i)
      EXPECT_TRUE(torch::equal(grads[i], expected[i])) << "seed " << seed();
  }
}

TEST(LossScaler, FindsInfInOnlyOneOfSeveralMixedDtypeTensors) {
  torch::manual_seed(seed());
  LossScaler s;
  std::vector<torch::Tensor> grads{torch::randn({100}), torch::randn({200}).to(torch::kBFloat16),
                                   torch::randn({300000}), torch::randn({5})};
  grads[2][299999] = -INFINITY;  // last element of the last piece of one tensor
  auto untouched = grads[3].clone();
  EXPECT_TRUE(s.unscaleAndCheck(grads));
  // The other grads were still unscaled (the step is skipped, so this is harmless).
  EXPECT_TRUE(torch::allclose(grads[3], untouched / 65536.0));
  std::vector<torch::Tensor> finite{torch::randn({100}), torch::randn({200}).to(torch::kBFloat16)};
  EXPECT_FALSE(s.unscaleAndCheck(finite));
}

TEST(LossScaler, RejectsUnsupportedGrads) {
  LossScaler s;
  std::vector<torch::Tensor> doubles{torch::ones({2}, torch::kDouble)};
  EXPECT_THROW(s.unscaleAndCheck(doubles), Error);
  std::vector<torch::Tensor> strided{torch::ones({4, 4}).t()};
  EXPECT_THROW(s.unscaleAndCheck(strided), Error);
}

TEST(LossScaler, DisabledIsIdentity) {
  LossScalerOptions o;
  o.enabled = false;
  LossScaler s(o);
  auto loss = torch::tensor(2.0f);
  EXPECT_EQ(s.scale(loss).item<float>(), 2.0f);
  std::vector<torch::Tensor> grads{torch::full({2}, INFINITY)};
  EXPECT_FALSE(s.unscaleAndCheck(grads));
  s.update(true);
  EXPECT_EQ(s.skippedSteps(), 0);
}

}  // namespace
}  // namespace trainrun
