// Element types the kernels handle, and the chunk descriptor they take (no LibTorch dependency).
#pragma once

#include <cstddef>
#include <cstdint>

namespace trainrun::kernels {

// Floating types of gradients and of compressed all-reduce buffers.
enum class Dtype { kFloat32, kFloat16, kBFloat16 };

inline size_t elementSize(Dtype d) { return d == Dtype::kFloat32 ? 4 : 2; }

inline const char* dtypeName(Dtype d) {
  switch (d) {
    case Dtype::kFloat32:
      return "float32";
    case Dtype::kFloat16:
      return "float16";
    case Dtype::kBFloat16:
      return "bfloat16";
  }
  return "?";
}

// One contiguous run of `numel` elements at `data` (host memory for the CPU references,
// device memory for the CUDA launchers).
struct TensorChunk {
  void* data = nullptr;
  int64_t numel = 0;
};

}  // namespace trainrun::kernels
