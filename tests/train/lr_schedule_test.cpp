// Learning-rate schedule: warmup, cosine and linear decay to the floor, constant, and
// warmup-stable-decay.
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

TEST(LearningRate, WarmupThenLinearToFloor) {
  config::JobConfig c;
  c.mutable_optimizer()->set_lr(1.0);
  c.mutable_scheduler()->set_name("linear");
  c.mutable_scheduler()->set_warmup_steps(10);
  c.mutable_scheduler()->set_min_lr_ratio(0.1);
  EXPECT_DOUBLE_EQ(learningRate(c, 10, 110), 1.0);
  EXPECT_NEAR(learningRate(c, 35, 110), 0.775, 1e-12);  // a quarter of the way down
  EXPECT_NEAR(learningRate(c, 60, 110), 0.55, 1e-12);
  EXPECT_NEAR(learningRate(c, 110, 110), 0.1, 1e-12);
}

TEST(LearningRate, WarmupStableThenDecayOverTheLastFraction) {
  config::JobConfig c;
  c.mutable_optimizer()->set_lr(1.0);
  c.mutable_scheduler()->set_name("wsd");
  c.mutable_scheduler()->set_warmup_steps(10);
  c.mutable_scheduler()->set_decay_fraction(0.2);  // steps 90-110 decay
  EXPECT_DOUBLE_EQ(learningRate(c, 4, 110), 0.5);
  EXPECT_DOUBLE_EQ(learningRate(c, 10, 110), 1.0);
  EXPECT_DOUBLE_EQ(learningRate(c, 90, 110), 1.0);
  EXPECT_NEAR(learningRate(c, 100, 110), 0.5, 1e-12);
  EXPECT_NEAR(learningRate(c, 110, 110), 0.0, 1e-12);
  c.mutable_scheduler()->set_decay_fraction(0);  // no decay: constant after warmup
  EXPECT_DOUBLE_EQ(learningRate(c, 109, 110), 1.0);
}

}  // namespace
}  // namespace trainrun
