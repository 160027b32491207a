// CPU references of the CUDA kernels: the definition of what each kernel must compute.
#pragma once

#include <cstdint>

#include "kernels/dtype.h"

namespace trainrun::kernels {

// In place: g = g * inv_scale for every element of every chunk, computed in fp32 and stored
// back in `dtype`. Returns true if any element was non-finite BEFORE scaling (the check
// torch.cuda.amp.GradScaler makes), so one pass both unscales and detects overflow.
bool unscaleAndCheckRef(const TensorChunk* chunks, int count, Dtype dtype, float inv_scale);

}  // namespace trainrun::kernels
