// CUDA device probes over the runtime API; without CUDA they report nothing.
#include "core/cuda_devices.h"

#if TRAINRUN_WITH_CUDA
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

}  // namespace trainrun
