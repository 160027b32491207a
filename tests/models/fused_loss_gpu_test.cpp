// The fused head + loss and the fused add + LayerNorm on a CUDA device (the kernels through
// autograd) against torch's on the same GPT, bf16 autocast: the loss and every gradient (label
// gpu; skips without a device).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>

#include "amp/autocast.h"
#include "models/fused_cross_entropy.h"
#include "models/gpt.h"
#include "support/model_pass.h"

namespace trainrun {
namespace {

using testing::expectSamePass;
using testing::Pass;

Pass gptPass(bool fused, int64_t vocab, bool fused_norm = false) {
  torch::manual_seed(7);
  Gpt model(GptSizes{2, 4, 128, 64, vocab}, fused_norm);
  model.to(torch::kCUDA);
  torch::Tensor idx = torch::randint(0, vocab, {4, 64}, torch::kLong).to(torch::kCUDA);
  torch::Tensor y = torch::randint(0, vocab, {4, 64}, torch::kLong).to(torch::kCUDA);
  torch::Tensor l;
  {
    AutocastGuard autocast(Precision::kBf16, torch::kCUDA);
    l = fused ? *model.fusedLoss(idx, y)
              : torch::nn::functional::cross_entropy(
                    model.forward(idx).reshape({-1, vocab}).to(torch::kFloat), y.reshape({-1}));
  }
  return testing::passOf(model, l);
}

TEST(FusedLossGpu, GptFusedHeadMatchesTorchUnderBf16) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible";
  for (int64_t vocab : {50257, 1000}) {  // padded to 50304, and already a multiple of 8
    SCOPED_TRACE(vocab);
    expectSamePass(gptPass(true, vocab), gptPass(false, vocab), 2e-2, 5e-2);
  }
}

TEST(FusedLossGpu, GptFusedNormAndHeadMatchTorchUnderBf16) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible";
  expectSamePass(gptPass(true, 1000, /*fused_norm=*/true), gptPass(false, 1000), 2e-2, 5e-2);
}

}  // namespace
}  // namespace trainrun
