// CUDA helpers, once for the runtime: error checks and a deadline-bounded wait for an event.
#pragma once

#include <cuda_runtime_api.h>

#include <functional>
#include <string>

#include "core/clock.h"

namespace trainrun {

// Throws CudaError "<what> failed: <CUDA's message>" unless err is cudaSuccess.
void checkCuda(cudaError_t err, const std::string& what);

// Polls `event` until the device completed it or `deadline` passed, and returns cudaSuccess,
// cudaErrorNotReady (the deadline passed) or the error the device reported. Never
// cudaEventSynchronize, which cannot be bounded: a GPU stuck behind a hung collective must
// end in a TimeoutError, not a silent hang. `on_poll` runs before every poll and may throw
// (a failure noticed elsewhere, such as a communicator's watchdog, ends the wait).
cudaError_t waitForEvent(cudaEvent_t event, Clock::time_point deadline,
                         const std::function<void()>& on_poll = nullptr);

}  // namespace trainrun
