// Learning-rate schedule: warmup, cosine decay to the floor, constant.
#include "train/lr_schedule.h"

#include <gtest/gtest.h>

namespace trainrun {
namespace {

TEST(LearningRate, WarmupThenCosineToFloor) {
  config::JobConfig c;
  c.mutable_optimizer()->set_lr(1.0);
  c.mutable_scheduler()->set_warmup_steps(10);
  c.mutable_scheduler()->set_min_lr_ratio(0.1);
  EXPECT_DOUBLE_EQ(learningRate(c, 0, 110), 0.1);
  EXPECT_DOUBLE_EQ(learningRate(c, 9, 110), 1.0);
  EXPECT_DOUBLE_EQ(learningRate(c, 10, 110), 1.0);
  EXPECT_NEAR(learningRate(c, 60, 110), 0.55, 1e-12);  // halfway: mean of peak and floor
  EXPECT_NEAR(learningRate(c, 110, 110), 0.1, 1e-12);
}

TEST(LearningRate, ConstantAfterWarmup) {
  config::JobConfig c;
  c.mutable_optimizer()->set_lr(0.5);
  c.mutable_scheduler()->set_name("constant");
  EXPECT_DOUBLE_EQ(learningRate(c, 0, 100), 0.5);
  EXPECT_DOUBLE_EQ(learningRate(c, 99, 100), 0.5);
}

}  // namespace
}  // namespace trainrun
