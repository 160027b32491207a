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

std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const config::OptimizerConfig& o,
                                                       std::vector<torch::Tensor> params) {
  if (o.name() == "adamw") {
    return std::make_unique<FusedAdamW>(params, torch::optim::AdamWOptions(o.lr())
                                                    .betas({o.beta1(), o.beta2()})
                                                    .eps(o.eps())
                                                    .weight_decay(o.weight_decay()));
  }
  return std::make_unique<torch::optim::SGD>(
      params,
      torch::optim::SGDOptions(o.lr()).momentum(o.momentum()).weight_decay(o.weight_decay()));
}

}  // namespace trainrun
