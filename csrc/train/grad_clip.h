// GradClipper: clips the gradients' global L2 norm on the device, nothing read back.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace trainrun {

// torch.nn.utils.clip_grad_norm_(grads, max_norm) without a host read-back (LibTorch's C++
// clip_grad_norm_ returns the norm as a double: a device sync every step). The total L2 norm
// of the gradients is reduced by multi-tensor kernels and kept on the device, and every
// gradient is multiplied by min(1, max_norm / (norm + 1e-6)), as in PyTorch. Nothing depends
// on a host value, so a CUDA graph captures it with the step (train.cuda_graph). A non-finite
// norm (an fp16 overflow) leaves non-finite gradients; the loss scaler skips that step.
class GradClipper {
 public:
  // max_norm > 0; the norm lives on `device`.
  GradClipper(double max_norm, torch::Device device);

  // Clips `grads` in place (undefined entries are skipped) and records their norm before
  // clipping.
  void clip(const std::vector<torch::Tensor>& grads);
  // The last clip()'s norm before clipping: an fp32 () tensor on the device (0 before one).
  const torch::Tensor& lastNorm() const { return norm_; }

 private:
  double max_norm_;
  torch::Tensor norm_;
};

}  // namespace trainrun
