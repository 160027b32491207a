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

namespace trainrun {
namespace {

struct Pass {
  double loss;
  std::map<std::string, torch::Tensor> grads;
};

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
  l.backward();
  Pass p{l.item<double>(), {}};
  for (const auto& param : model.named_parameters())
    p.grads[param.key()] = param.value().grad().to(torch::kCPU);
  return p;
}

TEST(FusedLossGpu, GptFusedHeadMatchesTorchUnderBf16) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible";
  for (int64_t vocab : {50257, 1000}) {  // padded to 50304, and already a multiple of 8
    SCOPED_TRACE(vocab);
    const Pass want = gptPass(false, vocab), got = gptPass(true, vocab);
    EXPECT_NEAR(got.loss, want.loss, 2e-2);
    for (const auto& [name, g] : want.grads) {
      const double scale = g.abs().max().item<double>() + 1e-12;
      EXPECT_LE((got.grads.at(name) - g).abs().max().item<double>() / scale, 5e-2) << name;
    }
  }
}

TEST(FusedLossGpu, GptFusedNormAndHeadMatchTorchUnderBf16) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible";
  const Pass want = gptPass(false, 1000), got = gptPass(true, 1000, /*fused_norm=*/true);
  EXPECT_NEAR(got.loss, want.loss, 2e-2);
  for (const auto& [name, g] : want.grads) {
    const double scale = g.abs().max().item<double>() + 1e-12;
    EXPECT_LE((got.grads.at(name) - g).abs().max().item<double>() / scale, 5e-2) << name;
  }
}

}  // namespace
}  // namespace trainrun
