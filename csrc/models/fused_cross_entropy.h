// fusedCrossEntropy: the language-model loss without an fp32 copy of the logits.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace trainrun {

// The mean cross-entropy of `logits` (N, V) in fp32, fp16 or bf16 (rows may be a strided view,
// stride(1) == 1) against `targets` (N,) int64, as torch::cross_entropy_loss computes it on the
// logits cast to fp32 (mean over the rows whose target is not `ignore_index`; NaN when all are).
// The forward reads each logit once and keeps one fp32 per row (its log-sum-exp); the backward
// writes the gradient into the logits' own storage (softmax - one-hot, times the incoming
// gradient over the rows counted), in their dtype: no fp32 logits, no log_softmax copy, no
// zero-filled gradient. So the logits must not be read after the backward (a model's head
// output feeds nothing else). CUDA tensors run kernels/cross_entropy.cu on the current stream
// with no host sync; CPU tensors run the CPU references (kernels/reference.h). Throws
// trainrun::Error for a shape, dtype or device it cannot take.
torch::Tensor fusedCrossEntropy(const torch::Tensor& logits, const torch::Tensor& targets,
                                int64_t ignore_index = -100);

}  // namespace trainrun
