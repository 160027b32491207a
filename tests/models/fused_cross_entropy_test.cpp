// fusedCrossEntropy on CPU (the kernels' references) against torch's cross-entropy on fp32
// logits: the loss, the logits' gradient, and a whole GPT's parameter gradients.
#include "models/fused_cross_entropy.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>

#include "amp/autocast.h"
#include "core/error.h"
#include "models/gpt.h"
#include "support/model_pass.h"

namespace trainrun {
namespace {

// The loss and d(3 x loss)/d(logits) both ways, from the same logits values.
struct Both {
  torch::Tensor fused_loss, torch_loss, fused_grad, torch_grad;
};

Both lossBothWays(const torch::Tensor& values, const torch::Tensor& targets) {
  Both b;
  torch::Tensor a = values.clone().requires_grad_(true);
  b.fused_loss = fusedCrossEntropy(a, targets);
  (b.fused_loss * 3).backward();
  b.fused_grad = a.grad();
  torch::Tensor c = values.clone().requires_grad_(true);
  b.torch_loss = torch::nn::functional::cross_entropy(c.to(torch::kFloat), targets);
  (b.torch_loss * 3).backward();
  b.torch_grad = c.grad();
  return b;
}

TEST(FusedCrossEntropy, MatchesTorchOnFp32AndBf16LogitsWithIgnoredRows) {
  torch::manual_seed(3);
  torch::Tensor targets = torch::randint(0, 300, {40}, torch::kLong);
  targets.narrow(0, 0, 5).fill_(-100);  // ignored: the mean is over the other 35
  for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
    SCOPED_TRACE(c10::toString(dtype));
    Both b = lossBothWays((torch::randn({40, 300}) * 4).to(dtype), targets);
    EXPECT_NEAR(b.fused_loss.item<double>(), b.torch_loss.item<double>(), 1e-5);
    EXPECT_EQ(b.fused_grad.scalar_type(), dtype);  // written in the logits' own dtype
    const double tol = dtype == torch::kFloat ? 1e-6 : 1e-2;
    EXPECT_TRUE(
        torch::allclose(b.fused_grad.to(torch::kFloat), b.torch_grad.to(torch::kFloat), tol, 1e-7))
        << (b.fused_grad.to(torch::kFloat) - b.torch_grad.to(torch::kFloat)).abs().max();
    EXPECT_TRUE(b.fused_grad.narrow(0, 0, 5).eq(0).all().item<bool>());
  }
}

TEST(FusedCrossEntropy, ReadsRowsOfAPaddedBufferAndLeavesThePaddingAlone) {
  torch::manual_seed(4);
  torch::Tensor padded = torch::full({8, 64}, 9.0f);
  padded.narrow(1, 0, 50).copy_(torch::randn({8, 50}));
  torch::Tensor targets = torch::randint(0, 50, {8}, torch::kLong);
  torch::Tensor view = padded.narrow(1, 0, 50);  // rows 64 elements apart
  const torch::Tensor want = torch::nn::functional::cross_entropy(view.clone(), targets);
  EXPECT_NEAR(fusedCrossEntropy(view, targets).item<double>(), want.item<double>(), 1e-6);
  EXPECT_TRUE(padded.narrow(1, 50, 14).eq(9).all().item<bool>());
}

TEST(FusedCrossEntropy, RefusesWhatItCannotTake) {
  auto targets = torch::zeros({4}, torch::kLong);
  EXPECT_THROW(fusedCrossEntropy(torch::zeros({4, 3}, torch::kInt), targets), Error);
  EXPECT_THROW(fusedCrossEntropy(torch::zeros({4, 3, 2}), targets), Error);
  EXPECT_THROW(fusedCrossEntropy(torch::zeros({4, 3}), torch::zeros({4}, torch::kInt)), Error);
  EXPECT_THROW(fusedCrossEntropy(torch::zeros({5, 3}), targets), Error);
  EXPECT_THROW(fusedCrossEntropy(torch::zeros({3, 4}).t(), torch::zeros({4}, torch::kLong)), Error);
}

// The whole model three ways: torch's loss on its logits, fusedCrossEntropy on them, and the
// model's fused head + loss (padded rows): the same loss and every parameter's gradient.
enum class Path { kTorch, kFusedLoss, kFusedHead };

using testing::expectSamePass;
using testing::Pass;

Pass gptPass(Path path, bool autocast_bf16) {
  const GptSizes sizes{2, 2, 32, 16, 97};  // layers, heads, width, block, vocabulary
  torch::manual_seed(5);                   // the same initialization and batch every time
  Gpt model(sizes);
  torch::Tensor idx = torch::randint(0, 97, {3, 16}, torch::kLong);
  torch::Tensor y = torch::randint(0, 97, {3, 16}, torch::kLong);
  torch::Tensor l;
  {
    AutocastGuard autocast(autocast_bf16 ? Precision::kBf16 : Precision::kFp32, torch::kCPU);
    if (path == Path::kFusedHead) {
      l = *model.fusedLoss(idx, y);
    } else {
      torch::Tensor logits = model.forward(idx).reshape({-1, 97});
      l = path == Path::kFusedLoss
              ? fusedCrossEntropy(logits, y.reshape({-1}))
              : torch::nn::functional::cross_entropy(logits.to(torch::kFloat), y.reshape({-1}));
    }
  }
  return testing::passOf(model, l);
}

TEST(FusedCrossEntropy, GptLossAndEveryGradientMatchTheUnfusedPath) {
  const Pass want = gptPass(Path::kTorch, false);
  expectSamePass(gptPass(Path::kFusedLoss, false), want, 1e-6, 1e-4);
  expectSamePass(gptPass(Path::kFusedHead, false), want, 1e-6, 1e-4);
}

TEST(FusedCrossEntropy, GptFusedHeadUnderBf16AutocastMatchesTheUnfusedPath) {
  const Pass want = gptPass(Path::kTorch, true);
  expectSamePass(gptPass(Path::kFusedLoss, true), want, 1e-2, 3e-2);
  expectSamePass(gptPass(Path::kFusedHead, true), want, 1e-2, 3e-2);
}

TEST(FusedCrossEntropy, FusedHeadPadsTheRowsAndKeepsTheWeightsShape) {
  torch::manual_seed(6);
  torch::Tensor hidden = torch::randn({5, 8}, torch::requires_grad());
  torch::Tensor weight = torch::randn({50, 8}, torch::requires_grad());
  torch::Tensor y = torch::randint(0, 50, {5}, torch::kLong);
  torch::Tensor l = fusedHeadCrossEntropy(hidden, weight, y, 64);
  l.backward();
  torch::Tensor h2 = hidden.detach().clone().requires_grad_(true);
  torch::Tensor w2 = weight.detach().clone().requires_grad_(true);
  torch::Tensor want = torch::nn::functional::cross_entropy(torch::mm(h2, w2.t()), y);
  want.backward();
  EXPECT_NEAR(l.item<double>(), want.item<double>(), 1e-6);
  EXPECT_EQ(weight.grad().sizes(), weight.sizes());
  EXPECT_TRUE(torch::allclose(weight.grad(), w2.grad(), 1e-5, 1e-7));
  EXPECT_TRUE(torch::allclose(hidden.grad(), h2.grad(), 1e-5, 1e-7));
}

}  // namespace
}  // namespace trainrun
