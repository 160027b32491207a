// The CUDA path of LossScaler::unscaleAndCheck: fused kernels, then the flag read back.
#pragma once

#include <chrono>
#include <vector>

#include "amp/grad_groups.h"

namespace trainrun {

// Owns the device found-inf flag, its pinned host mirror and an event, allocated once on
// `device` because per-step cudaMalloc would synchronize the device. In a build without CUDA
// the constructor throws Error.
class CudaUnscaler {
 public:
  explicit CudaUnscaler(int device);
  ~CudaUnscaler();
  CudaUnscaler(const CudaUnscaler&) = delete;
  CudaUnscaler& operator=(const CudaUnscaler&) = delete;

  int device() const { return device_; }
  // Zeroes the flag, launches one fused kernel per dtype group on LibTorch's current stream,
  // copies the flag back and waits for it by polling an event (TimeoutError after `timeout`):
  // the caller needs found-inf on the host to decide whether to step.
  bool run(const std::vector<GradGroup>& groups, float inv_scale,
           std::chrono::milliseconds timeout);

 private:
  int device_;
  float* device_flag_ = nullptr;
  float* host_flag_ = nullptr;
  void* event_ = nullptr;  // cudaEvent_t
};

}  // namespace trainrun
