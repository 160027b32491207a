// CPU references of the CUDA kernels: the definition of what each kernel must compute.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/dtype.h"

namespace trainrun::kernels {

// In place: g = g * inv_scale for every element of every chunk, computed in fp32 and stored
// back in `dtype`. Returns true if any element was non-finite BEFORE scaling (the check
// torch.cuda.amp.GradScaler makes), so one pass both unscales and detects overflow.
bool unscaleAndCheckRef(const TensorChunk* chunks, int count, Dtype dtype, float inv_scale);

// Where one tensor lives inside a flat bucket buffer; offset and numel count elements.
struct FlatSegment {
  void* tensor = nullptr;
  int64_t numel = 0;
  int64_t offset = 0;
};

// Copies each segment's tensor into flat[offset, offset + numel) (elements of elem_size bytes).
void flattenRef(const FlatSegment* segments, int count, void* flat, size_t elem_size);
// The inverse: copies flat[offset, offset + numel) back into each segment's tensor.
void unflattenRef(const FlatSegment* segments, int count, const void* flat, size_t elem_size);

// dst[i] = cast(src[i] * scale), computed in fp32. Supported: fp32 -> fp16/bf16 and
// fp16/bf16 -> fp32 (the compressed all-reduce round trip); same-dtype pairs copy-scale.
void castRef(const void* src, Dtype src_dtype, void* dst, Dtype dst_dtype, int64_t n,
             float scale = 1.0f);

}  // namespace trainrun::kernels
