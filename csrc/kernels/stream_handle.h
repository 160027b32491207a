// cudaStream_t under another name, so headers can take a stream without including CUDA.
#pragma once

// The CUDA runtime defines cudaStream_t as `struct CUstream_st*`; this is the same type, so
// values pass between the two freely. nullptr is the legacy default stream (LibTorch's
// default stream too).
struct CUstream_st;

namespace trainrun {
using CudaStreamHandle = CUstream_st*;
}  // namespace trainrun
