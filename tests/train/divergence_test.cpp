// The divergence checks: a non-finite window loss and a parameter holding a NaN or an infinity
// are DivergedError (exit code 2) naming the steps or the parameter; large finite values pass;
// fp16 stops once a window skips every step with its loss scale below 1.
#include "train/divergence.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"

namespace trainrun {
namespace {

using ::testing::HasSubstr;

std::string lossError(double loss) {
  try {
    checkLossFinite(loss, 31, 40);
  } catch (const DivergedError& e) {
    EXPECT_EQ(e.exitCode(), 2);
    return e.what();
  }
  return "";
}

TEST(Divergence, ANonFiniteLossNamesItsSteps) {
  EXPECT_EQ(lossError(2.5), "");
  EXPECT_THAT(lossError(NAN), HasSubstr("training diverged: train_loss is nan over steps 31-40"));
  EXPECT_THAT(lossError(INFINITY), HasSubstr("train_loss is inf over steps 31-40"));
  EXPECT_THAT(lossError(NAN), HasSubstr("lower optimizer.lr or set optimizer.max_grad_norm"));
}

std::string scaleError(float scale, int64_t skipped) {
  try {
    checkLossScale(scale, skipped, 31, 40);
  } catch (const DivergedError& e) {
    EXPECT_EQ(e.exitCode(), 2);
    return e.what();
  }
  return "";
}

TEST(Divergence, Fp16StopsWhenEveryStepSkipsBelowScaleOne) {
  EXPECT_EQ(scaleError(65536.0f, 10), "");  // every step skipped, but the scale is still high
  EXPECT_EQ(scaleError(0.5f, 9), "");       // one step of the window updated the parameters
  EXPECT_EQ(scaleError(1.0f, 10), "");
  EXPECT_THAT(scaleError(0.25f, 10),
              HasSubstr("training diverged: fp16 skipped every step of steps 31-40 (inf or NaN "
                        "gradients) and the loss scale fell to 0.25, below 1"));
  EXPECT_THAT(scaleError(0.0f, 12), HasSubstr("or train in precision: bf16"));
}

std::string paramsError(const torch::OrderedDict<std::string, torch::Tensor>& named) {
  try {
    checkParamsFinite(named, 7);
  } catch (const DivergedError& e) {
    return e.what();
  }
  return "";
}

TEST(Divergence, ANonFiniteParameterIsNamed) {
  torch::nn::Linear first(3, 4), second(4, 2);
  torch::OrderedDict<std::string, torch::Tensor> named;
  named.insert("first.weight", first->weight);
  named.insert("first.bias", first->bias);
  named.insert("second.weight", second->weight);
  torch::NoGradGuard no_grad;
  first->weight.fill_(std::numeric_limits<float>::max());  // large, finite: no overflow
  EXPECT_EQ(paramsError(named), "");
  second->weight[1][0] = NAN;
  EXPECT_THAT(paramsError(named), HasSubstr("parameter second.weight holds a NaN or an infinity "
                                            "after step 7, so that checkpoint is not saved"));
  first->bias[0] = -INFINITY;
  EXPECT_THAT(paramsError(named), HasSubstr("parameter first.bias "));  // the first one
}

}  // namespace
}  // namespace trainrun
