// fusedAddLayerNorm on CPU (the kernels' references) against torch's add and layer_norm: both
// outputs, every gradient, autocast's dtypes, and a whole GPT with model.fused_norm on and off.
#include "models/fused_add_norm.h"

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

// The gradients of sum(sum * ds) + sum(normed * dn) with respect to each input.
struct Grads {
  torch::Tensor sum, normed, residual, branch, weight, bias;
};

Grads run(bool fused, const torch::Tensor& res0, const torch::Tensor& br0, const torch::Tensor& ds,
          const torch::Tensor& dn, Precision precision) {
  torch::manual_seed(11);
  const int64_t C = res0.size(-1);
  Grads g;
  torch::Tensor res = res0.clone().requires_grad_(true), br = br0.clone().requires_grad_(true);
  torch::Tensor w = (torch::randn({C}) + 1).requires_grad_(true);
  torch::Tensor b = torch::randn({C}).requires_grad_(true);
  {
    AutocastGuard autocast(precision, torch::kCPU);
    if (fused) {
      AddNorm out = fusedAddLayerNorm(res, br, w, b, 1e-5);
      g.sum = out.sum;
      g.normed = out.normed;
    } else {
      g.sum = res + br;
      g.normed = torch::layer_norm(g.sum.to(torch::kFloat), {C}, w, b, 1e-5);
      if (precision == Precision::kBf16) g.normed = g.normed.to(torch::kBFloat16);
    }
  }
  ((g.sum.to(torch::kFloat) * ds).sum() + (g.normed.to(torch::kFloat) * dn).sum()).backward();
  g.residual = res.grad();
  g.branch = br.grad();
  g.weight = w.grad();
  g.bias = b.grad();
  return g;
}

using testing::expectClose;

void expectSameGrads(const Grads& got, const Grads& want, double rtol) {
  expectClose(got.sum, want.sum, rtol, "sum");
  expectClose(got.normed, want.normed, rtol, "normed");
  expectClose(got.residual, want.residual, rtol, "d residual");
  expectClose(got.branch, want.branch, rtol, "d branch");
  expectClose(got.weight, want.weight, rtol, "d weight");
  expectClose(got.bias, want.bias, rtol, "d bias");
}

TEST(FusedAddNorm, MatchesTorchAddAndLayerNormInFp32) {
  torch::manual_seed(1);
  torch::Tensor res = torch::randn({3, 7, 40}) * 3, br = torch::randn({3, 7, 40});
  torch::Tensor ds = torch::randn({3, 7, 40}), dn = torch::randn({3, 7, 40});
  expectSameGrads(run(true, res, br, ds, dn, Precision::kFp32),
                  run(false, res, br, ds, dn, Precision::kFp32), 1e-5);
}

TEST(FusedAddNorm, UnderBf16AutocastTakesABf16BranchAndWritesTheNormedInBf16) {
  torch::manual_seed(2);
  torch::Tensor res = torch::randn({4, 64}) * 3, br = torch::randn({4, 64}).to(torch::kBFloat16);
  torch::Tensor ds = torch::randn({4, 64}), dn = torch::randn({4, 64});
  const Grads got = run(true, res, br, ds, dn, Precision::kBf16);
  EXPECT_EQ(got.sum.scalar_type(), torch::kFloat);        // the stream stays fp32
  EXPECT_EQ(got.normed.scalar_type(), torch::kBFloat16);  // the next matmul's dtype
  expectSameGrads(got, run(false, res, br, ds, dn, Precision::kBf16), 1e-2);
}

TEST(FusedAddNorm, WithoutABranchIsLayerNormAndAnUnusedSumNeedsNoGradient) {
  torch::manual_seed(3);
  torch::Tensor x = (torch::randn({6, 24}) * 4).requires_grad_(true);
  torch::Tensor w = torch::randn({24}).requires_grad_(true), b = torch::randn({24});
  AddNorm out = fusedAddLayerNorm(x, torch::Tensor(), w, b, 1e-5);
  EXPECT_TRUE(out.sum.is_same(x));
  torch::Tensor dn = torch::randn({6, 24});
  (out.normed * dn).sum().backward();
  torch::Tensor x2 = x.detach().clone().requires_grad_(true);
  torch::Tensor w2 = w.detach().clone().requires_grad_(true);
  (torch::layer_norm(x2, {24}, w2, b, 1e-5) * dn).sum().backward();
  EXPECT_TRUE(torch::allclose(x.grad(), x2.grad(), 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(w.grad(), w2.grad(), 1e-4, 1e-5));

  // Only the normed output read (ln_f: the last sum feeds nothing).
  torch::Tensor r = torch::randn({2, 24}).requires_grad_(true), br = torch::randn({2, 24});
  fusedAddLayerNorm(r, br, w.detach(), b, 1e-5).normed.sum().backward();
  torch::Tensor r2 = r.detach().clone().requires_grad_(true);
  torch::layer_norm(r2 + br, {24}, w.detach(), b, 1e-5).sum().backward();
  EXPECT_TRUE(torch::allclose(r.grad(), r2.grad(), 1e-4, 1e-5));
}

TEST(FusedAddNorm, RefusesShapesItCannotTake) {
  torch::Tensor w = torch::ones({8}), b = torch::zeros({8});
  EXPECT_THROW(fusedAddLayerNorm(torch::zeros({2, 8}), torch::zeros({2, 7}), w, b, 1e-5), Error);
  EXPECT_THROW(fusedAddLayerNorm(torch::zeros({2, 9}), torch::zeros({2, 9}), w, b, 1e-5), Error);
  EXPECT_THROW(fusedAddLayerNorm(torch::zeros({2, 8}, torch::kInt), torch::Tensor(), w, b, 1e-5),
               Error);
}

// A whole GPT with model.fused_norm on and off (and with the fused head): the loss and every
// parameter's gradient.
using testing::expectSamePass;
using testing::Pass;

Pass gptPass(bool fused_norm, bool fused_head, Precision precision) {
  const GptSizes sizes{3, 2, 32, 16, 97};
  torch::manual_seed(5);  // the same initialization and batch every time
  Gpt model(sizes, fused_norm);
  torch::Tensor idx = torch::randint(0, 97, {3, 16}, torch::kLong);
  torch::Tensor y = torch::randint(0, 97, {3, 16}, torch::kLong);
  torch::Tensor l;
  {
    AutocastGuard autocast(precision, torch::kCPU);
    l = fused_head ? *model.fusedLoss(idx, y)
                   : torch::nn::functional::cross_entropy(
                         model.forward(idx).reshape({-1, 97}).to(torch::kFloat), y.reshape({-1}));
  }
  return testing::passOf(model, l);
}

TEST(FusedAddNorm, GptLossAndEveryGradientMatchTheUnfusedModel) {
  const Pass want = gptPass(false, false, Precision::kFp32);
  expectSamePass(gptPass(true, false, Precision::kFp32), want, 1e-6, 1e-4);
  expectSamePass(gptPass(true, true, Precision::kFp32), want, 1e-6, 1e-4);
}

TEST(FusedAddNorm, GptUnderBf16AutocastMatchesTheUnfusedModel) {
  const Pass want = gptPass(false, false, Precision::kBf16);
  expectSamePass(gptPass(true, false, Precision::kBf16), want, 1e-2, 3e-2);
  expectSamePass(gptPass(true, true, Precision::kBf16), want, 1e-2, 3e-2);
}

}  // namespace
}  // namespace trainrun
