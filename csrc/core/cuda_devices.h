// CUDA device probes for start-up reports and backend choice; every build has them.
#pragma once

#include <string>

namespace trainrun {

// True if this process sees at least one CUDA device. False without a driver, without
// devices, with CUDA_VISIBLE_DEVICES empty, or in a build without CUDA. Leaves no sticky
// CUDA error behind.
bool cudaDevicesVisible();
// Name of CUDA device `index`; "" without CUDA or without that device.
std::string cudaDeviceName(int index);
// The CUDA runtime's version ("13.0"); "" in builds without CUDA.
std::string cudaRuntimeVersion();

}  // namespace trainrun
