// Launch-time helpers shared by the .cu files: grid sizing from device limits.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace trainrun::kernels {

// Threads per block for every kernel here: a multiple of the warp size that keeps enough
// blocks resident per SM on both Ampere and Hopper.
inline constexpr int kBlockThreads = 256;

// Blocks for a grid-stride kernel: as many as fit resident on the current device at the
// kernel's occupancy (read at run time, cached per device and kernel), capped by the
// number of independent work items so small inputs do not launch idle blocks.
int gridSizeFor(const void* kernel, int64_t work_items);

}  // namespace trainrun::kernels
