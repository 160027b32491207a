// CudaUnscaler: kernels/ launches plus a polled, bounded read-back of the found-inf flag.
#include "amp/cuda_unscaler.h"

#include <string>
#include <thread>

#include "core/error.h"

#if TRAINRUN_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include "kernels/cuda_kernels.h"
#endif

namespace trainrun {

#if TRAINRUN_WITH_CUDA
namespace {

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw Error(std::string("loss scaling: ") + what + " failed: " + cudaGetErrorString(err));
}

}  // namespace

CudaUnscaler::CudaUnscaler(int device) : device_(device) {
  c10::cuda::CUDAGuard guard(device_);
  check(cudaMalloc(reinterpret_cast<void**>(&device_flag_), sizeof(float)), "cudaMalloc");
  check(cudaMallocHost(reinterpret_cast<void**>(&host_flag_), sizeof(float)), "cudaMallocHost");
  cudaEvent_t event;
  check(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), "cudaEventCreate");
  event_ = event;
}

CudaUnscaler::~CudaUnscaler() {
  if (event_) cudaEventDestroy(static_cast<cudaEvent_t>(event_));
  if (host_flag_) cudaFreeHost(host_flag_);
  if (device_flag_) cudaFree(device_flag_);
}

bool CudaUnscaler::run(const std::vector<GradGroup>& groups, float inv_scale,
                       std::chrono::milliseconds timeout) {
  c10::cuda::CUDAGuard guard(device_);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(device_).stream();
  auto event = static_cast<cudaEvent_t>(event_);
  check(cudaMemsetAsync(device_flag_, 0, sizeof(float), stream), "cudaMemsetAsync");
  for (const auto& g : groups) {
    kernels::launchUnscaleAndCheck(g.chunks.data(), static_cast<int>(g.chunks.size()), g.dtype,
                                   inv_scale, device_flag_, stream);
  }
  check(cudaMemcpyAsync(host_flag_, device_flag_, sizeof(float), cudaMemcpyDeviceToHost, stream),
        "cudaMemcpyAsync");
  check(cudaEventRecord(event, stream), "cudaEventRecord");
  // Polling rather than cudaEventSynchronize keeps the wait bounded: a GPU stuck behind a
  // hung collective must end as a TimeoutError, not a silent hang.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (int spins = 0;; ++spins) {
    const cudaError_t q = cudaEventQuery(event);
    if (q == cudaSuccess) break;
    if (q != cudaErrorNotReady) check(q, "unscale kernels");
    if (std::chrono::steady_clock::now() > deadline)
      throw TimeoutError("loss scaling: the GPU did not finish unscaling gradients within " +
                         std::to_string(timeout.count()) + " ms");
    if (spins < 1000) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  return *host_flag_ != 0.0f;
}

#else  // !TRAINRUN_WITH_CUDA

CudaUnscaler::CudaUnscaler(int device) : device_(device) {
  throw Error("loss scaling: got CUDA gradients but trainrun was built without CUDA");
}
CudaUnscaler::~CudaUnscaler() = default;
bool CudaUnscaler::run(const std::vector<GradGroup>&, float, std::chrono::milliseconds) {
  return false;
}

#endif

}  // namespace trainrun
