// Fused cross-entropy: per row, one pass for the loss and one in-place pass for the gradient.
#include <cmath>

#include "core/cuda.h"
#include "kernels/cuda_kernels.h"
#include "kernels/device_io.cuh"
#include "kernels/launch.h"

namespace trainrun::kernels {
namespace {

constexpr int kWarps = kBlockThreads / 32;

// A running softmax denominator: sum of exp(x - max) over the values seen, and their max.
struct MaxSum {
  float max;
  float sum;
};

__device__ __forceinline__ MaxSum combine(MaxSum a, MaxSum b) {
  const float m = fmaxf(a.max, b.max);
  if (m == -INFINITY) return {m, 0.0f};
  return {m, a.sum * expf(a.max - m) + b.sum * expf(b.max - m)};
}

// The whole block's MaxSum, in every thread.
__device__ MaxSum blockMaxSum(MaxSum v) {
  __shared__ MaxSum warps[kWarps];
  for (int offset = 16; offset > 0; offset /= 2) {
    MaxSum other{__shfl_xor_sync(0xffffffffu, v.max, offset),
                 __shfl_xor_sync(0xffffffffu, v.sum, offset)};
    v = combine(v, other);
  }
  if (threadIdx.x % 32 == 0) warps[threadIdx.x / 32] = v;
  __syncthreads();
  MaxSum all{-INFINITY, 0.0f};
  for (int w = 0; w < kWarps; ++w) all = combine(all, warps[w]);
  __syncthreads();  // `warps` is reused by the next row
  return all;
}

// One block per row (grid-stride over rows): the row is read once, coalesced, in fp32.
template <typename Io>
__global__ void forwardKernel(CrossEntropyRows r, float* losses, float* lse) {
  for (int64_t row = blockIdx.x; row < r.rows; row += gridDim.x) {
    const auto* x = static_cast<const typename Io::Storage*>(r.logits) + row * r.stride;
    const int64_t t = r.targets[row];
    if (t == r.ignore_index) {  // uniform across the block: no thread reaches the barrier
      if (threadIdx.x == 0) losses[row] = lse[row] = 0.0f;
      continue;
    }
    MaxSum v{-INFINITY, 0.0f};  // this thread's columns, one exp each
    for (int64_t j = threadIdx.x; j < r.vocab; j += blockDim.x) {
      const float xj = Io::load(x[j]);
      if (xj > v.max) {
        v.sum = v.sum * expf(v.max - xj) + 1.0f;
        v.max = xj;
      } else {
        v.sum += expf(xj - v.max);
      }
    }
    v = blockMaxSum(v);
    if (threadIdx.x == 0) {
      const float l = v.max + logf(v.sum);
      lse[row] = l;
      losses[row] = (t >= 0 && t < r.vocab) ? l - Io::load(x[t]) : NAN;
    }
  }
}

template <typename Io>
__global__ void backwardKernel(CrossEntropyRows r, const float* lse, const float* scale_ptr) {
  const float scale = *scale_ptr;
  for (int64_t row = blockIdx.x; row < r.rows; row += gridDim.x) {
    auto* x = static_cast<typename Io::Storage*>(r.logits) + row * r.stride;
    const int64_t t = r.targets[row];
    const bool live = t != r.ignore_index && t >= 0 && t < r.vocab;
    const float l = lse[row];
    for (int64_t j = threadIdx.x; j < r.vocab; j += blockDim.x) {
      const float p = live ? expf(Io::load(x[j]) - l) : 0.0f;
      x[j] = Io::store((p - (live && j == t ? 1.0f : 0.0f)) * scale);
    }
  }
}

template <typename Io>
void forward(const CrossEntropyRows& rows, float* losses, float* lse, cudaStream_t stream) {
  const auto* kernel = reinterpret_cast<const void*>(&forwardKernel<Io>);
  forwardKernel<Io>
      <<<gridSizeFor(kernel, rows.rows), kBlockThreads, 0, stream>>>(rows, losses, lse);
  checkCuda(cudaGetLastError(), "cross-entropy forward launch");
}

template <typename Io>
void backward(const CrossEntropyRows& rows, const float* lse, const float* scale,
              cudaStream_t stream) {
  const auto* kernel = reinterpret_cast<const void*>(&backwardKernel<Io>);
  backwardKernel<Io>
      <<<gridSizeFor(kernel, rows.rows), kBlockThreads, 0, stream>>>(rows, lse, scale);
  checkCuda(cudaGetLastError(), "cross-entropy backward launch");
}

}  // namespace

void launchCrossEntropyForward(const CrossEntropyRows& rows, float* losses, float* lse,
                               cudaStream_t stream) {
  if (rows.rows <= 0) return;
  switch (rows.dtype) {
    case Dtype::kFloat32:
      return forward<DevF32>(rows, losses, lse, stream);
    case Dtype::kFloat16:
      return forward<DevF16>(rows, losses, lse, stream);
    case Dtype::kBFloat16:
      return forward<DevBf16>(rows, losses, lse, stream);
  }
}

void launchCrossEntropyBackward(const CrossEntropyRows& rows, const float* lse, const float* scale,
                                cudaStream_t stream) {
  if (rows.rows <= 0) return;
  switch (rows.dtype) {
    case Dtype::kFloat32:
      return backward<DevF32>(rows, lse, scale, stream);
    case Dtype::kFloat16:
      return backward<DevF16>(rows, lse, scale, stream);
    case Dtype::kBFloat16:
      return backward<DevBf16>(rows, lse, scale, stream);
  }
}

}  // namespace trainrun::kernels
