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

// A language model's head and loss as one function: the mean cross-entropy of
// hidden (N, C) x weight (V, C)^T against targets (N,), as fusedCrossEntropy of that linear.
// The logits are written with rows padded to a multiple of `pad_to` columns (a GEMM on a
// zero-padded copy of the weight: GPT-2's 50257 becomes 50304, 16-byte-aligned rows), the
// loss reads the first V of each row, and the backward writes the logits' gradient in place and
// forms the two GEMMs from it: d(hidden) = g W, d(weight) = g[:, :V]^T hidden. Under autocast
// (as the trainer's forward runs) the GEMMs take autocast's dtype, as torch::linear would; the
// gradients come back in hidden's and weight's own dtypes. Parameters stay (V, C): checkpoints
// and the exported model are those of the unfused head. Throws as fusedCrossEntropy does.
torch::Tensor fusedHeadCrossEntropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                    const torch::Tensor& targets, int64_t pad_to = 64,
                                    int64_t ignore_index = -100);

}  // namespace trainrun
