// model.attention: the checks before start-up and the SDPA flags it sets, on the CPU.
#include "models/attention_backend.h"

#include <ATen/Context.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "models/gpt.h"

namespace trainrun {
namespace {

class AttentionBackend : public ::testing::Test {
 protected:
  void TearDown() override { selectAttentionBackend("auto", torch::kCPU, Precision::kFp32); }
};

TEST_F(AttentionBackend, RefusesBeforeStartUpWhatCannotRunHere) {
  for (const char* gpu_only : {"cudnn", "efficient"})
    EXPECT_THROW(selectAttentionBackend(gpu_only, torch::kCPU, Precision::kBf16), ConfigError);
  for (const char* low_precision : {"flash", "cudnn"})
    EXPECT_THROW(selectAttentionBackend(low_precision, torch::kCUDA, Precision::kFp32),
                 ConfigError);
  EXPECT_THROW(selectAttentionBackend("fastest", torch::kCPU, Precision::kFp32), ConfigError);
  try {
    selectAttentionBackend("cudnn", torch::kCPU, Precision::kFp32);
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "model.attention=cudnn runs on CUDA devices only; on the CPU use auto, flash or "
                 "math");
  }
}

TEST_F(AttentionBackend, EnablesOnlyTheNamedKernelAndAutoEnablesAll) {
  at::Context& ctx = at::globalContext();
  selectAttentionBackend("math", torch::kCPU, Precision::kFp32);
  EXPECT_TRUE(ctx.userEnabledMathSDP());
  EXPECT_FALSE(ctx.userEnabledFlashSDP());
  EXPECT_FALSE(ctx.userEnabledCuDNNSDP());
  EXPECT_FALSE(ctx.userEnabledMemEfficientSDP());
  selectAttentionBackend("efficient", torch::kCUDA, Precision::kFp32);  // fp32 is fine there
  EXPECT_TRUE(ctx.userEnabledMemEfficientSDP());
  EXPECT_FALSE(ctx.userEnabledMathSDP());
  selectAttentionBackend("auto", torch::kCPU, Precision::kFp32);
  EXPECT_TRUE(ctx.userEnabledMathSDP() && ctx.userEnabledFlashSDP() && ctx.userEnabledCuDNNSDP() &&
              ctx.userEnabledMemEfficientSDP());
}

TEST_F(AttentionBackend, TheCpuFlashKernelAndTheMathReferenceGiveTheSameGpt) {
  torch::manual_seed(9);
  Gpt model(GptSizes{2, 2, 32, 16, 50});
  torch::NoGradGuard no_grad;
  const torch::Tensor idx = torch::randint(0, 50, {2, 16}, torch::kLong);
  selectAttentionBackend("math", torch::kCPU, Precision::kFp32);
  const torch::Tensor math = model.forward(idx);
  selectAttentionBackend("flash", torch::kCPU, Precision::kFp32);
  const torch::Tensor flash = model.forward(idx);
  EXPECT_TRUE(torch::allclose(flash, math, 1e-4, 1e-5)) << (flash - math).abs().max();
}

}  // namespace
}  // namespace trainrun
