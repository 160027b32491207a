// cudaDevicesVisible: the probe behind dist.backend: auto (false in builds without CUDA).
#include "dist/nccl/nccl_communicator.h"

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

}  // namespace trainrun
