// fusedAddLayerNorm: a residual add and the LayerNorm after it as one kernel each way.
#pragma once

#include <torch/torch.h>

namespace trainrun {

struct AddNorm {
  torch::Tensor sum;     // residual + branch: the residual stream the next block adds to
  torch::Tensor normed;  // layer_norm(sum): the next matmul's input
};

// (residual + branch, layer_norm(residual + branch, weight, bias, eps)) over the last dim, with
// the gradients of both, in one kernel forward and one backward (kernels/add_norm.cu on CUDA,
// the CPU references on the CPU): the sum is read once for the statistics instead of written by
// an add and read again by the LayerNorm, and the backward adds the LayerNorm's gradient to the
// sum's own. The sum takes the promoted dtype of residual and branch (fp32 under autocast: an
// fp32 stream plus a bf16 branch); the statistics and the arithmetic are fp32, as autocast's
// layer_norm computes them. `normed` is written in autocast's dtype when autocast is on for the
// device (the dtype the next matmul would cast it to: the same values, one pass fewer), else in
// the sum's. An undefined `branch` normalizes `residual` alone (sum is then residual itself).
// Throws trainrun::Error for shapes or devices it cannot take.
AddNorm fusedAddLayerNorm(const torch::Tensor& residual, const torch::Tensor& branch,
                          const torch::Tensor& weight, const torch::Tensor& bias, double eps);

}  // namespace trainrun
