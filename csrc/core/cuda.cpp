// checkCuda and waitForEvent: spin briefly (results usually arrive within microseconds), then
// sleep between polls.
#include "core/cuda.h"

#include <thread>

#include "core/error.h"

namespace trainrun {

void checkCuda(cudaError_t err, const std::string& what) {
  if (err != cudaSuccess) throw CudaError(what + " failed: " + cudaGetErrorString(err));
}

cudaError_t waitForEvent(cudaEvent_t event, Clock::time_point deadline,
                         const std::function<void()>& on_poll) {
  for (int spins = 0;; ++spins) {
    if (on_poll) on_poll();
    const cudaError_t q = cudaEventQuery(event);
    if (q != cudaErrorNotReady) return q;
    if (Clock::now() > deadline) return cudaErrorNotReady;
    if (spins < 1000) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
}

}  // namespace trainrun
