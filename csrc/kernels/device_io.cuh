// Device load/store of each Dtype as fp32 (the device twin of element_io.h).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace trainrun::kernels {

struct DevF32 {
  using Storage = float;
  static __device__ __forceinline__ float load(float v) { return v; }
  static __device__ __forceinline__ float store(float v) { return v; }
};

struct DevF16 {
  using Storage = __half;
  static __device__ __forceinline__ float load(__half v) { return __half2float(v); }
  static __device__ __forceinline__ __half store(float v) { return __float2half_rn(v); }
};

struct DevBf16 {
  using Storage = __nv_bfloat16;
  static __device__ __forceinline__ float load(__nv_bfloat16 v) { return __bfloat162float(v); }
  static __device__ __forceinline__ __nv_bfloat16 store(float v) { return __float2bfloat16_rn(v); }
};

// Index of the tensor owning `tile`: the first i with tile_end[i] > tile (tile_end is the
// running sum of tiles per tensor, so empty tensors are skipped naturally).
__device__ __forceinline__ int tensorOfTile(const int64_t* tile_end, int count, int64_t tile) {
  int lo = 0;
  int hi = count - 1;
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (tile_end[mid] > tile) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

}  // namespace trainrun::kernels
