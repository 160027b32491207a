// makeOptimizer's parameter groups: optimizer.decay_params=matrices decays only parameters of
// two or more dimensions (AdamW and SGD), `all` decays every one, and the fused AdamW over two
// groups trains as LibTorch's AdamW over the same groups.
#include "train/objective.h"

#include <gtest/gtest.h>

#include "train/fused_adamw.h"

namespace trainrun {
namespace {

config::OptimizerConfig optimizer(const std::string& name, const std::string& decay_params) {
  config::OptimizerConfig o;
  o.set_name(name);
  o.set_lr(0.1);
  o.set_weight_decay(0.5);
  o.set_decay_params(decay_params);
  return o;
}

// A weight (2-D) and a bias (1-D) after one step on zero gradients: weight decay alone moves
// them, each by the factor 1 - lr * weight_decay when it applies (AdamW and SGD alike).
std::pair<double, double> shrinkAfterOneStep(const config::OptimizerConfig& o) {
  torch::manual_seed(3);
  torch::Tensor weight = torch::randn({4, 3}).requires_grad_(true);
  torch::Tensor bias = torch::randn({4}).requires_grad_(true);
  const torch::Tensor w0 = weight.detach().clone(), b0 = bias.detach().clone();
  auto opt = makeOptimizer(o, {weight, bias});
  weight.mutable_grad() = torch::zeros_like(weight);
  bias.mutable_grad() = torch::zeros_like(bias);
  opt->step();
  return {(weight.detach() / w0).mean().item<double>(), (bias.detach() / b0).mean().item<double>()};
}

TEST(MakeOptimizer, MatricesDecaysWeightsNotBiases) {
  for (const std::string name : {"adamw", "sgd"}) {
    const auto [weight, bias] = shrinkAfterOneStep(optimizer(name, "matrices"));
    EXPECT_NEAR(weight, 1 - 0.1 * 0.5, 1e-6) << name;
    EXPECT_EQ(bias, 1.0) << name;
  }
}

TEST(MakeOptimizer, AllDecaysEveryParameter) {
  for (const std::string name : {"adamw", "sgd"}) {
    const auto [weight, bias] = shrinkAfterOneStep(optimizer(name, "all"));
    EXPECT_NEAR(weight, 1 - 0.1 * 0.5, 1e-6) << name;
    EXPECT_NEAR(bias, 1 - 0.1 * 0.5, 1e-6) << name;
  }
}

TEST(MakeOptimizer, TwoGroupsTrainAsLibTorchsAdamW) {
  torch::manual_seed(4);
  const torch::Tensor w_init = torch::randn({5, 3}), b_init = torch::randn({5});
  std::vector<torch::Tensor> mine{w_init.clone().requires_grad_(true),
                                  b_init.clone().requires_grad_(true)};
  std::vector<torch::Tensor> theirs{w_init.clone().requires_grad_(true),
                                    b_init.clone().requires_grad_(true)};
  const config::OptimizerConfig o = optimizer("adamw", "matrices");
  auto fused = makeOptimizer(o, mine);
  ASSERT_NE(dynamic_cast<FusedAdamW*>(fused.get()), nullptr);
  ASSERT_EQ(fused->param_groups().size(), 2u);
  auto options = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(o.lr())
                                                            .betas({o.beta1(), o.beta2()})
                                                            .eps(o.eps())
                                                            .weight_decay(wd));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{theirs[0]}, options(o.weight_decay()));
  groups.emplace_back(std::vector<torch::Tensor>{theirs[1]}, options(0));
  torch::optim::AdamW reference(groups);
  for (int s = 0; s < 4; ++s) {
    for (size_t i = 0; i < mine.size(); ++i) {
      mine[i].mutable_grad() = torch::cos(mine[i].detach() * (s + 1));
      theirs[i].mutable_grad() = torch::cos(theirs[i].detach() * (s + 1));
    }
    fused->step();
    reference.step();
  }
  for (size_t i = 0; i < mine.size(); ++i)
    EXPECT_TRUE(torch::allclose(mine[i], theirs[i], 1e-5, 1e-6)) << "parameter " << i;
}

}  // namespace
}  // namespace trainrun
