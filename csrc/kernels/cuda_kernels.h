// CUDA launchers: raw device pointers + sizes + a plain CUDA stream (no CUDA LibTorch needed).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/dtype.h"
#include "kernels/reference.h"

namespace trainrun::kernels {

// Contract shared by the launchers: pointers are device memory of the current device, work is
// enqueued on `stream` and the call returns without waiting; a launch error throws
// trainrun::Error. Each has the CPU reference of the same name (minus "launch", plus "Ref").

// Fused unscale + non-finite check over `count` chunks of one dtype (see unscaleAndCheckRef).
// Stores 1.0f to *found_inf (device memory) if any element was non-finite and never clears
// it: the caller zeroes it once, then several dtype groups accumulate into the same flag.
// `chunks` is host memory, read before the call returns.
void launchUnscaleAndCheck(const TensorChunk* chunks, int count, Dtype dtype, float inv_scale,
                           float* found_inf, cudaStream_t stream);

// The fused cross-entropy (see crossEntropyForwardRef): `rows` (logits and targets in device
// memory) in, losses[rows] and lse[rows] (device fp32) out; one block per row.
void launchCrossEntropyForward(const CrossEntropyRows& rows, float* losses, float* lse,
                               cudaStream_t stream);
// Its backward in place (see crossEntropyBackwardRef), the factor read from device memory
// (*scale: the loss's incoming gradient over the rows counted, so no host sync is needed).
void launchCrossEntropyBackward(const CrossEntropyRows& rows, const float* lse, const float* scale,
                                cudaStream_t stream);

// The fused residual add + LayerNorm forward (see addNormForwardRef); one block per row.
void launchAddNormForward(const AddNormRows& rows, const AddNormForward& args, cudaStream_t stream);

// Its backward (see addNormBackwardRef). The weight and bias gradients are summed in parts of
// kAddNormRowsPerPart rows, then the parts in order: deterministic on every device. `workspace`
// is device memory of addNormWorkspaceFloats(rows) floats.
void launchAddNormBackward(const AddNormRows& rows, const AddNormBackward& args, float* workspace,
                           cudaStream_t stream);

}  // namespace trainrun::kernels
