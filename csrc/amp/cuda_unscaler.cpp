// CudaUnscaler: kernels/ launches plus a polled, bounded read-back of the found-inf flag.
#include "amp/cuda_unscaler.h"

#include <string>

#include "core/error.h"

#if TRAINRUN_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "core/cuda.h"
#include "kernels/cuda_kernels.h"
#endif

namespace trainrun {

#if TRAINRUN_WITH_CUDA
namespace {

void check(cudaError_t err, const char* what) {
  checkCuda(err, std::string("loss scaling: ") + what);
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
  if (timeout.count() <= 0)
    throw Error("loss scaling: no deadline for the found-inf read-back (set sync_timeout)");
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
  const cudaError_t q = waitForEvent(event, Clock::now() + timeout);
  if (q == cudaErrorNotReady)
    throw TimeoutError("loss scaling: the GPU did not finish unscaling gradients within " +
                       std::to_string(timeout.count()) + " ms");
  check(q, "unscale kernels");
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
