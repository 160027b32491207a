// GradClipper: one multi-tensor norm, one scalar on the device, one multi-tensor scale.
#include "train/grad_clip.h"

#include "core/error.h"

namespace trainrun {

GradClipper::GradClipper(double max_norm, torch::Device device) : max_norm_(max_norm) {
  if (!(max_norm > 0)) throw Error("GradClipper: max_norm must be > 0");
  norm_ = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat).device(device));
}

void GradClipper::clip(const std::vector<torch::Tensor>& grads) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> defined;
  for (const auto& g : grads)
    if (g.defined()) defined.push_back(g);
  if (defined.empty()) {
    norm_.zero_();
    return;
  }
  std::vector<torch::Tensor> norms = at::_foreach_norm(defined, 2);
  for (auto& n : norms) n = n.to(torch::kFloat);  // fp32 gradients: no copy
  norm_.copy_(torch::linalg_vector_norm(torch::stack(norms), 2));
  const torch::Tensor coef = torch::clamp_max(max_norm_ / (norm_ + 1e-6), 1.0);
  at::_foreach_mul_(defined, coef);
}

}  // namespace trainrun
