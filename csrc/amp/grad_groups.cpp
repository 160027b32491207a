// Grouping of gradients for the fused unscale pass, and the CPU pass itself.
#include "amp/grad_groups.h"

#include <ATen/Parallel.h>

#include <atomic>
#include <string>

#include "core/error.h"
#include "kernels/reference.h"

namespace trainrun {
namespace {

// Elements per parallel work item: large enough that scheduling is noise, small enough
// that one big embedding gradient still spreads over every thread.
constexpr int64_t kCpuChunkElements = 1 << 16;

void addChunk(std::vector<GradGroup>* groups, kernels::Dtype dtype, kernels::TensorChunk chunk) {
  for (auto& g : *groups) {
    if (g.dtype == dtype) {
      g.chunks.push_back(chunk);
      return;
    }
  }
  groups->push_back({dtype, {chunk}});
}

}  // namespace

std::optional<kernels::Dtype> kernelDtype(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat:
      return kernels::Dtype::kFloat32;
    case torch::kHalf:
      return kernels::Dtype::kFloat16;
    case torch::kBFloat16:
      return kernels::Dtype::kBFloat16;
    default:
      return std::nullopt;
  }
}

kernels::Dtype requireKernelDtype(torch::ScalarType type, const std::string& what) {
  if (const std::optional<kernels::Dtype> d = kernelDtype(type)) return *d;
  throw Error(what + " of dtype " + c10::toString(type) + " (float32, float16 or bfloat16 only)");
}

void groupGrads(const std::vector<torch::Tensor>& grads, std::vector<GradGroup>* cpu,
                std::vector<GradGroup>* cuda, int* cuda_device) {
  *cuda_device = -1;
  for (const auto& g : grads) {
    if (!g.defined() || g.numel() == 0) continue;
    if (g.layout() != torch::kStrided || !g.is_contiguous())
      throw Error("loss scaling needs dense contiguous gradients (got a sparse or strided one)");
    const kernels::TensorChunk chunk{g.data_ptr(), g.numel()};
    const kernels::Dtype dtype = requireKernelDtype(g.scalar_type(), "loss scaling: a gradient");
    if (g.is_cuda()) {
      if (*cuda_device >= 0 && *cuda_device != g.get_device())
        throw Error("loss scaling: CUDA gradients on several devices (one device per rank)");
      *cuda_device = g.get_device();
      addChunk(cuda, dtype, chunk);
    } else if (g.is_cpu()) {
      addChunk(cpu, dtype, chunk);
    } else {
      throw Error("loss scaling: gradients must be on CPU or CUDA, got " + g.device().str());
    }
  }
}

bool unscaleCpuGroups(const std::vector<GradGroup>& groups, float inv_scale) {
  std::atomic<bool> found_inf{false};
  for (const auto& group : groups) {
    std::vector<kernels::TensorChunk> pieces;
    const size_t elem = kernels::elementSize(group.dtype);
    for (const auto& c : group.chunks) {
      for (int64_t begin = 0; begin < c.numel; begin += kCpuChunkElements) {
        pieces.push_back({static_cast<char*>(c.data) + begin * elem,
                          std::min(kCpuChunkElements, c.numel - begin)});
      }
    }
    at::parallel_for(0, static_cast<int64_t>(pieces.size()), 1, [&](int64_t lo, int64_t hi) {
      if (kernels::unscaleAndCheckRef(&pieces[lo], static_cast<int>(hi - lo), group.dtype,
                                      inv_scale))
        found_inf.store(true, std::memory_order_relaxed);
    });
  }
  return found_inf.load();
}

}  // namespace trainrun
