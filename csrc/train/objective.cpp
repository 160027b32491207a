// lossOf and makeOptimizer: what the trainer minimizes, and with what.
#include "train/objective.h"

#include <optional>

#include "models/fused_cross_entropy.h"
#include "train/fused_adamw.h"

namespace trainrun {

torch::Tensor lossOf(Model& model, const torch::Tensor& x, const torch::Tensor& y, Task task,
                     bool fused) {
  if (fused && task != Task::kRegression) {
    if (std::optional<torch::Tensor> loss = model.fusedLoss(x, y)) return *loss;
    const torch::Tensor logits = model.forward(x);
    return fusedCrossEntropy(logits.reshape({-1, logits.size(-1)}), y.reshape({-1}).contiguous());
  }
  const torch::Tensor logits = model.forward(x);
  if (task == Task::kRegression)
    return torch::mse_loss(logits.reshape({-1}).to(torch::kFloat), y.reshape({-1}));
  return torch::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}).to(torch::kFloat),
                                   y.reshape({-1}));
}

namespace {

torch::optim::AdamWOptions adamwOptions(const config::OptimizerConfig& o, double weight_decay) {
  return torch::optim::AdamWOptions(o.lr())
      .betas({o.beta1(), o.beta2()})
      .eps(o.eps())
      .weight_decay(weight_decay);
}

torch::optim::SGDOptions sgdOptions(const config::OptimizerConfig& o, double weight_decay) {
  return torch::optim::SGDOptions(o.lr()).momentum(o.momentum()).weight_decay(weight_decay);
}

}  // namespace

std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const config::OptimizerConfig& o,
                                                       std::vector<torch::Tensor> params) {
  const bool adamw = o.name() == "adamw";
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto add = [&](std::vector<torch::Tensor> ps, double weight_decay) {
    if (adamw)
      groups.emplace_back(std::move(ps), std::make_unique<torch::optim::AdamWOptions>(
                                             adamwOptions(o, weight_decay)));
    else
      groups.emplace_back(std::move(ps),
                          std::make_unique<torch::optim::SGDOptions>(sgdOptions(o, weight_decay)));
  };
  if (o.decay_params() == "matrices" && o.weight_decay() > 0) {
    std::vector<torch::Tensor> matrices, others;
    for (auto& p : params) (p.dim() >= 2 ? matrices : others).push_back(p);
    if (!matrices.empty()) add(std::move(matrices), o.weight_decay());
    if (!others.empty()) add(std::move(others), 0.0);
  }
  if (groups.empty()) add(std::move(params), o.weight_decay());
  if (adamw) return std::make_unique<FusedAdamW>(groups, adamwOptions(o, o.weight_decay()));
  return std::make_unique<torch::optim::SGD>(groups, sgdOptions(o, o.weight_decay()));
}

}  // namespace trainrun
