// GraphedStep on CPU (where it runs eagerly): the same training as the Trainer's step through
// gradient accumulation, loss scaling, a skipped step and clipping; a changed batch shape
// refused; and train.cuda_graph's conditions checked before start-up.
#include <gtest/gtest.h>

#include "core/error.h"
#include "graphed_step_rig.h"
#include "models/mlp.h"

namespace trainrun {
namespace {

std::vector<std::vector<MicroBatch>> digitsLike(int steps, int accum) {
  torch::manual_seed(11);
  std::vector<std::vector<MicroBatch>> out(static_cast<size_t>(steps));
  for (auto& step : out)
    for (int m = 0; m < accum; ++m)
      step.emplace_back(torch::randn({8, 12}), torch::randint(0, 5, {8}, torch::kLong));
  return out;
}

std::shared_ptr<Model> mlp() {
  torch::manual_seed(2);
  return std::make_shared<Mlp>(std::vector<int64_t>{12, 16, 5});
}

TEST(GraphedStep, TrainsAsTheTrainersStepThroughAccumulationScalingAndASkip) {
  testing::RigOptions o;
  o.scaled = true;
  o.steps = 7;
  o.poisoned_step = 3;
  const auto data = digitsLike(o.steps, /*accum=*/2);
  const testing::RigResult eager = testing::trainRig(false, mlp, data, o);
  const testing::RigResult graphed = testing::trainRig(true, mlp, data, o);
  ASSERT_EQ(eager.params.size(), graphed.params.size());
  for (size_t i = 0; i < eager.params.size(); ++i)
    EXPECT_TRUE(graphed.params[i].equal(eager.params[i])) << "parameter " << i;
  EXPECT_TRUE(std::isinf(eager.window_loss) && std::isinf(graphed.window_loss));
  EXPECT_EQ(graphed.scaler.scale, eager.scaler.scale);
  EXPECT_EQ(graphed.scaler.growth_tracker, eager.scaler.growth_tracker);
  EXPECT_EQ(graphed.scaler.skipped_steps, 1);
  EXPECT_EQ(eager.scaler.skipped_steps, 1);
  EXPECT_EQ(eager.adamw_steps, 6);  // seven steps, one skipped
  EXPECT_EQ(graphed.adamw_steps, 6);
}

TEST(GraphedStep, UnscaledRunKeepsTheLossWindowOfTheTrainersStep) {
  testing::RigOptions o;
  const auto data = digitsLike(o.steps, /*accum=*/1);
  const testing::RigResult eager = testing::trainRig(false, mlp, data, o);
  const testing::RigResult graphed = testing::trainRig(true, mlp, data, o);
  EXPECT_EQ(graphed.window_loss, eager.window_loss);
  for (size_t i = 0; i < eager.params.size(); ++i)
    EXPECT_TRUE(graphed.params[i].equal(eager.params[i])) << "parameter " << i;
  EXPECT_EQ(graphed.adamw_steps, o.steps);
}

TEST(GraphedStep, ClipsTheGradientNormAsTheTrainersStep) {
  testing::RigOptions o;
  o.scaled = true;
  o.steps = 7;
  o.poisoned_step = 3;  // an inf norm on the skipped step; the next step's is finite again
  const auto data = digitsLike(o.steps, /*accum=*/2);
  const testing::RigResult unclipped = testing::trainRig(false, mlp, data, o);
  o.max_grad_norm = 0.05;  // below the MLP's gradient norm: every step clips
  const testing::RigResult eager = testing::trainRig(false, mlp, data, o);
  const testing::RigResult graphed = testing::trainRig(true, mlp, data, o);
  EXPECT_GT(eager.grad_norm, o.max_grad_norm);
  EXPECT_TRUE(std::isfinite(eager.grad_norm));
  EXPECT_EQ(graphed.grad_norm, eager.grad_norm);
  for (size_t i = 0; i < eager.params.size(); ++i) {
    EXPECT_TRUE(graphed.params[i].equal(eager.params[i])) << "parameter " << i;
    EXPECT_FALSE(eager.params[i].equal(unclipped.params[i])) << "parameter " << i;
  }
  EXPECT_EQ(eager.scaler.skipped_steps, 1);
  EXPECT_EQ(graphed.adamw_steps, 6);
}

TEST(GraphedStep, RefusesABatchOfAnotherShape) {
  testing::RigOptions o;
  o.steps = 2;
  auto data = digitsLike(2, 1);
  data[1][0].first = torch::randn({4, 12});
  data[1][0].second = torch::randint(0, 5, {4}, torch::kLong);
  try {
    testing::trainRig(true, mlp, data, o);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("micro-batch of shape [4, 12] after steps of shape "
                                         "[8, 12]"),
              std::string::npos)
        << e.what();
  }
}

TEST(GraphedStep, ConditionsAreConfigErrorsBeforeStartUp) {
  config::JobConfig c;
  c.mutable_train()->set_cuda_graph(true);
  EXPECT_THROW(checkGraphedStep(c, torch::kCPU, 1, false), ConfigError);
  EXPECT_THROW(checkGraphedStep(c, torch::Device(torch::kCUDA, 0), 2, false), ConfigError);
  EXPECT_THROW(checkGraphedStep(c, torch::Device(torch::kCUDA, 0), 1, true), ConfigError);
  EXPECT_NO_THROW(checkGraphedStep(c, torch::Device(torch::kCUDA, 0), 1, false));
  c.mutable_train()->set_cuda_graph(false);
  EXPECT_NO_THROW(checkGraphedStep(c, torch::kCPU, 4, true));
}

}  // namespace
}  // namespace trainrun
