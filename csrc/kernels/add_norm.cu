// Fused residual add + LayerNorm: one pass over a row forward, one backward, and a
// deterministic column reduction for the LayerNorm's weight and bias gradients.
#include "core/cuda.h"
#include "kernels/cuda_kernels.h"
#include "kernels/device_io.cuh"
#include "kernels/dtype_dispatch.h"
#include "kernels/launch.h"

namespace trainrun::kernels {
namespace {

constexpr int kWarps = kBlockThreads / 32;

// The block's sum of `v` (and of `w`), in every thread; fixed order, so deterministic.
__device__ float2 blockSum2(float v, float w) {
  __shared__ float2 warps[kWarps];
  for (int offset = 16; offset > 0; offset /= 2) {
    v += __shfl_xor_sync(0xffffffffu, v, offset);
    w += __shfl_xor_sync(0xffffffffu, w, offset);
  }
  if (threadIdx.x % 32 == 0) warps[threadIdx.x / 32] = make_float2(v, w);
  __syncthreads();
  float2 all = make_float2(0.0f, 0.0f);
  for (int i = 0; i < kWarps; ++i) {
    all.x += warps[i].x;
    all.y += warps[i].y;
  }
  __syncthreads();  // `warps` is reused by the next row
  return all;
}

// One block per row (grid-stride). The row's sum is written in pass 1 and read back by the
// same thread in passes 2 and 3 (L1/L2 hits), so the statistics see the stored rounding.
template <typename S, typename B, typename N>
__global__ void forwardKernel(AddNormRows r, AddNormForward a) {
  const int64_t C = r.width;
  const float inv_c = 1.0f / float(C);
  for (int64_t row = blockIdx.x; row < r.rows; row += gridDim.x) {
    const auto* res = static_cast<const typename S::Storage*>(a.residual) + row * C;
    const int64_t added = a.branch ? row * C : 0;  // no offsets from a null pointer
    const auto* br = static_cast<const typename B::Storage*>(a.branch) + added;
    auto* sum = static_cast<typename S::Storage*>(a.sum) + added;
    const typename S::Storage* s = a.branch ? sum : res;
    auto* out = static_cast<typename N::Storage*>(a.normed) + row * C;
    float total = 0.0f;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
      float v = S::load(res[j]);
      if (a.branch) {
        sum[j] = S::store(v + B::load(br[j]));
        v = S::load(sum[j]);
      }
      total += v;
    }
    const float mean = blockSum2(total, 0.0f).x * inv_c;
    float squares = 0.0f;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
      const float d = S::load(s[j]) - mean;
      squares += d * d;
    }
    const float rstd = rsqrtf(blockSum2(squares, 0.0f).x * inv_c + r.eps);
    if (threadIdx.x == 0) {
      a.mean[row] = mean;
      a.rstd[row] = rstd;
    }
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x)
      out[j] = N::store((S::load(s[j]) - mean) * rstd * a.weight[j] + a.bias[j]);
  }
}

// d(sum) per row, one block per row (grid-stride).
template <typename S, typename B, typename N>
__global__ void backwardRowsKernel(AddNormRows r, AddNormBackward a) {
  const int64_t C = r.width;
  const float inv_c = 1.0f / float(C);
  for (int64_t row = blockIdx.x; row < r.rows; row += gridDim.x) {
    const auto* dn = static_cast<const typename N::Storage*>(a.grad_normed) + row * C;
    const auto* ds =
        static_cast<const typename S::Storage*>(a.grad_sum) + (a.grad_sum ? row * C : 0);
    const auto* s = static_cast<const typename S::Storage*>(a.sum) + row * C;
    auto* gs = static_cast<typename S::Storage*>(a.grad_stream) + row * C;
    auto* gb = static_cast<typename B::Storage*>(a.grad_branch) + (a.grad_branch ? row * C : 0);
    const float mean = a.mean[row], rstd = a.rstd[row];
    float g_sum = 0.0f, gx_sum = 0.0f;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
      const float g = N::load(dn[j]) * a.weight[j];
      g_sum += g;
      gx_sum += g * (S::load(s[j]) - mean) * rstd;
    }
    const float2 sums = blockSum2(g_sum, gx_sum);
    const float g_mean = sums.x * inv_c, gx_mean = sums.y * inv_c;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
      const float xhat = (S::load(s[j]) - mean) * rstd;
      float total = rstd * (N::load(dn[j]) * a.weight[j] - g_mean - xhat * gx_mean);
      if (a.grad_sum) total += S::load(ds[j]);
      gs[j] = S::store(total);
      if (a.grad_branch) gb[j] = B::store(total);
    }
  }
}

constexpr int kColumnTile = 32;
constexpr int kRowLanes = kBlockThreads / kColumnTile;

// Partial weight and bias gradients: block (x, y) sums rows [y * kAddNormRowsPerPart, ..) of
// columns [x * 32, ..): workspace[y][j] (weight) and workspace[parts + y][j] (bias).
template <typename S, typename N>
__global__ void backwardColumnsKernel(AddNormRows r, AddNormBackward a, int64_t parts,
                                      float* workspace) {
  __shared__ float dw[kRowLanes][kColumnTile], db[kRowLanes][kColumnTile];
  const int64_t C = r.width;
  const int64_t j = int64_t(blockIdx.x) * kColumnTile + threadIdx.x % kColumnTile;
  const int lane = threadIdx.x / kColumnTile;
  const int64_t first = int64_t(blockIdx.y) * kAddNormRowsPerPart;
  const int64_t last = min(first + kAddNormRowsPerPart, r.rows);
  float w = 0.0f, b = 0.0f;
  if (j < C) {
    for (int64_t row = first + lane; row < last; row += kRowLanes) {
      const float d = N::load(static_cast<const typename N::Storage*>(a.grad_normed)[row * C + j]);
      const float s = S::load(static_cast<const typename S::Storage*>(a.sum)[row * C + j]);
      w += d * (s - a.mean[row]) * a.rstd[row];
      b += d;
    }
  }
  dw[lane][threadIdx.x % kColumnTile] = w;
  db[lane][threadIdx.x % kColumnTile] = b;
  __syncthreads();
  if (lane == 0 && j < C) {
    for (int i = 1; i < kRowLanes; ++i) {
      w += dw[i][threadIdx.x];
      b += db[i][threadIdx.x];
    }
    workspace[blockIdx.y * C + j] = w;
    workspace[(parts + blockIdx.y) * C + j] = b;
  }
}

// Sums the parts of each column in order.
__global__ void sumPartsKernel(int64_t parts, int64_t width, const float* workspace,
                               float* grad_weight, float* grad_bias) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < width;
       j += int64_t(gridDim.x) * blockDim.x) {
    float w = 0.0f, b = 0.0f;
    for (int64_t p = 0; p < parts; ++p) {
      w += workspace[p * width + j];
      b += workspace[(parts + p) * width + j];
    }
    grad_weight[j] = w;
    grad_bias[j] = b;
  }
}

template <typename S, typename B, typename N>
struct ForwardLaunch {
  static void run(const AddNormRows& r, const AddNormForward& a, cudaStream_t stream) {
    const auto* kernel = reinterpret_cast<const void*>(&forwardKernel<S, B, N>);
    forwardKernel<S, B, N><<<gridSizeFor(kernel, r.rows), kBlockThreads, 0, stream>>>(r, a);
    checkCuda(cudaGetLastError(), "add + LayerNorm forward launch");
  }
};

template <typename S, typename B, typename N>
struct BackwardLaunch {
  static void run(const AddNormRows& r, const AddNormBackward& a, float* workspace,
                  cudaStream_t stream) {
    const auto* kernel = reinterpret_cast<const void*>(&backwardRowsKernel<S, B, N>);
    backwardRowsKernel<S, B, N><<<gridSizeFor(kernel, r.rows), kBlockThreads, 0, stream>>>(r, a);
    checkCuda(cudaGetLastError(), "add + LayerNorm backward launch");
    const int64_t parts = addNormParts(r.rows);
    const dim3 tiles(static_cast<unsigned>((r.width + kColumnTile - 1) / kColumnTile),
                     static_cast<unsigned>(parts));
    backwardColumnsKernel<S, N><<<tiles, kBlockThreads, 0, stream>>>(r, a, parts, workspace);
    checkCuda(cudaGetLastError(), "add + LayerNorm weight-gradient launch");
    const auto blocks = static_cast<unsigned>((r.width + kBlockThreads - 1) / kBlockThreads);
    sumPartsKernel<<<blocks, kBlockThreads, 0, stream>>>(parts, r.width, workspace, a.grad_weight,
                                                         a.grad_bias);
    checkCuda(cudaGetLastError(), "add + LayerNorm weight-gradient sum launch");
  }
};

using DevElements = ElementSet<DevF32, DevF16, DevBf16>;

}  // namespace

void launchAddNormForward(const AddNormRows& rows, const AddNormForward& args,
                          cudaStream_t stream) {
  if (rows.rows <= 0 || rows.width <= 0) return;
  DevElements::with3<ForwardLaunch>(rows.stream, rows.branch, rows.normed, rows, args, stream);
}

void launchAddNormBackward(const AddNormRows& rows, const AddNormBackward& args, float* workspace,
                           cudaStream_t stream) {
  if (rows.width <= 0) return;
  if (rows.rows <= 0) {
    checkCuda(cudaMemsetAsync(args.grad_weight, 0, rows.width * sizeof(float), stream),
              "add + LayerNorm: zero weight gradient");
    checkCuda(cudaMemsetAsync(args.grad_bias, 0, rows.width * sizeof(float), stream),
              "add + LayerNorm: zero bias gradient");
    return;
  }
  DevElements::with3<BackwardLaunch>(rows.stream, rows.branch, rows.normed, rows, args, workspace,
                                     stream);
}

}  // namespace trainrun::kernels
