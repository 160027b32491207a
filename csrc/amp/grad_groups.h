// Gradients grouped by (device kind, dtype) as raw chunks: the input of one fused pass each.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "kernels/dtype.h"

namespace trainrun {

struct GradGroup {
  kernels::Dtype dtype;
  std::vector<kernels::TensorChunk> chunks;
};

// The kernels' Dtype of fp32/fp16/bf16; nullopt for any other (the caller names what it takes).
std::optional<kernels::Dtype> kernelDtype(torch::ScalarType type);
// kernelDtype, or Error "<what> of dtype D (float32, float16 or bfloat16 only)".
kernels::Dtype requireKernelDtype(torch::ScalarType type, const std::string& what);

// Chunks of every defined grad on CPU and on CUDA, grouped by dtype. Grads must be dense and
// contiguous (the fused pass walks raw memory); CUDA grads must share one device, returned
// in cuda_device (-1 when there are none).
void groupGrads(const std::vector<torch::Tensor>& grads, std::vector<GradGroup>* cpu,
                std::vector<GradGroup>* cuda, int* cuda_device);

// The CPU fused pass: each chunk is unscaled and checked in one loop, chunks split so that
// large tensors spread over LibTorch's intra-op threads.
bool unscaleCpuGroups(const std::vector<GradGroup>& groups, float inv_scale);

}  // namespace trainrun
