// One forward and backward of a model, kept as its loss and every parameter's gradient, and the
// comparison the fused-path tests make between two such passes.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>

namespace trainrun::testing {

struct Pass {
  double loss = 0;
  std::map<std::string, torch::Tensor> grads;  // by parameter name, on the CPU
};

// Runs loss.backward() and takes `model`'s gradients.
inline Pass passOf(torch::nn::Module& model, const torch::Tensor& loss) {
  loss.backward();
  Pass p{loss.item<double>(), {}};
  for (const auto& param : model.named_parameters())
    p.grads[param.key()] = param.value().grad().to(torch::kCPU).clone();
  return p;
}

// `got` within `rtol` of `want`, relative to want's largest magnitude (low-precision dtypes
// round each product differently), with want's dtype and shape.
inline void expectClose(const torch::Tensor& got, const torch::Tensor& want, double rtol,
                        const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_TRUE(got.defined());
  EXPECT_EQ(got.scalar_type(), want.scalar_type());
  EXPECT_EQ(got.sizes(), want.sizes());
  const double scale = want.abs().max().item<double>() + 1e-12;
  EXPECT_LE((got - want).abs().max().item<double>() / scale, rtol);
}

// The same loss (within loss_tol) and the same gradients (each within grad_rtol).
inline void expectSamePass(const Pass& got, const Pass& want, double loss_tol, double grad_rtol) {
  EXPECT_NEAR(got.loss, want.loss, loss_tol);
  ASSERT_EQ(got.grads.size(), want.grads.size());
  for (const auto& [name, g] : want.grads) expectClose(got.grads.at(name), g, grad_rtol, name);
}

}  // namespace trainrun::testing
