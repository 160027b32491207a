// CUDA device probes: cudaDevicesVisible (behind dist.backend: auto), device name, versions.
#include "dist/nccl/nccl_communicator.h"

#if TRAINRUN_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>
#endif

namespace trainrun {

bool cudaDevicesVisible() {
#if TRAINRUN_WITH_CUDA
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // no driver / no device: clear it so later CUDA calls start clean
    return false;
  }
  return count > 0;
#else
  return false;
#endif
}

std::string cudaDeviceName(int index) {
#if TRAINRUN_WITH_CUDA
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, index) != cudaSuccess) {
    cudaGetLastError();
    return "";
  }
  return prop.name;
#else
  (void)index;
  return "";
#endif
}

std::string cudaRuntimeVersion() {
#if TRAINRUN_WITH_CUDA
  int v = 0;
  if (cudaRuntimeGetVersion(&v) != cudaSuccess) return "";
  return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);  // 13000 -> 13.0
#else
  return "";
#endif
}

int64_t cudaPeakAllocatedBytes(int index) {
#if TRAINRUN_WITH_CUDA
  if (!cudaDevicesVisible()) return 0;
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index);
  return stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)]
      .peak;
#else
  (void)index;
  return 0;
#endif
}

}  // namespace trainrun
