// fp32 <-> fp16 / bf16 casts with a fused scale, for compressed (half-width) all-reduce.
#include "kernels/cuda_kernels.h"
#include "kernels/device_io.cuh"
#include "kernels/launch.h"

namespace trainrun::kernels {
namespace {

template <typename SrcIo, typename DstIo>
__global__ void castKernel(const typename SrcIo::Storage* src, typename DstIo::Storage* dst,
                           int64_t n, float scale) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    dst[i] = DstIo::store(SrcIo::load(src[i]) * scale);
}

template <typename SrcIo, typename DstIo>
void launchPair(const void* src, void* dst, int64_t n, float scale, cudaStream_t stream) {
  const auto* kernel = reinterpret_cast<const void*>(&castKernel<SrcIo, DstIo>);
  const int grid = gridSizeFor(kernel, (n + kBlockThreads - 1) / kBlockThreads);
  castKernel<SrcIo, DstIo>
      <<<grid, kBlockThreads, 0, stream>>>(static_cast<const typename SrcIo::Storage*>(src),
                                           static_cast<typename DstIo::Storage*>(dst), n, scale);
  checkCuda(cudaGetLastError(), "castKernel launch");
}

template <typename SrcIo>
void launchFrom(const void* src, void* dst, Dtype dst_dtype, int64_t n, float scale,
                cudaStream_t stream) {
  switch (dst_dtype) {
    case Dtype::kFloat32:
      return launchPair<SrcIo, DevF32>(src, dst, n, scale, stream);
    case Dtype::kFloat16:
      return launchPair<SrcIo, DevF16>(src, dst, n, scale, stream);
    case Dtype::kBFloat16:
      return launchPair<SrcIo, DevBf16>(src, dst, n, scale, stream);
  }
}

}  // namespace

void launchCast(const void* src, Dtype src_dtype, void* dst, Dtype dst_dtype, int64_t n,
                float scale, cudaStream_t stream) {
  if (n <= 0) return;
  switch (src_dtype) {
    case Dtype::kFloat32:
      return launchFrom<DevF32>(src, dst, dst_dtype, n, scale, stream);
    case Dtype::kFloat16:
      return launchFrom<DevF16>(src, dst, dst_dtype, n, scale, stream);
    case Dtype::kBFloat16:
      return launchFrom<DevBf16>(src, dst, dst_dtype, n, scale, stream);
  }
}

}  // namespace trainrun::kernels
