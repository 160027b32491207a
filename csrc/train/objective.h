// The training objective: a model's loss on a batch, and the optimizer the config names.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "config/config.h"
#include "data/dataset.h"
#include "models/model.h"

namespace trainrun {

// The model's loss on (x, y): the mean cross-entropy of its (B, ..., C) logits against
// (B, ...) targets, computed in fp32 (`fused`, model.fused_loss: the model's own fused path if
// it has one, else fusedCrossEntropy of its logits); regression: the mean squared error of
// (B, 1) outputs against (B,) float targets.
torch::Tensor lossOf(Model& model, const torch::Tensor& x, const torch::Tensor& y, Task task,
                     bool fused);

// optimizer.name: adamw (FusedAdamW, one pass per parameter group) or sgd (LibTorch's,
// momentum). optimizer.decay_params=matrices: two groups, weight_decay on the parameters of two
// or more dimensions and none on the others; every group has the config's learning rate.
std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const config::OptimizerConfig& o,
                                                       std::vector<torch::Tensor> params);

}  // namespace trainrun
