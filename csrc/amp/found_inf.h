// Agreement on found-inf across ranks, so every rank skips (or takes) the same steps.
#pragma once

#include <chrono>

#include "dist/communicator.h"

namespace trainrun {

// MAX all-reduce of this rank's found-inf: true on every rank if any rank saw inf/NaN.
// comm == nullptr (single process) returns local_found_inf. For the NCCL backend the flag
// travels in a CUDA tensor on the current device (needs a CUDA-enabled LibTorch); otherwise
// in a CPU tensor. Blocks until the result is on the host, at most `timeout`.
bool agreeFoundInf(Communicator* comm, bool local_found_inf,
                   std::chrono::milliseconds timeout = Work::kDefaultTimeout);

}  // namespace trainrun
