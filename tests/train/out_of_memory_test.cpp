// Out-of-memory errors in one line: CUDA's allocator message cut before its notes, the CPU
// allocator's in GiB, other errors left alone, and the line with where and what to change.
#include "train/out_of_memory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/error.h"

namespace trainrun {
namespace {

const c10::SourceLocation kHere{__func__, __FILE__, static_cast<uint32_t>(__LINE__)};

const char* const kCudaMessage =
    "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.11 GiB of "
    "which 1.20 GiB is free. Including non-PyTorch memory, this process has 77.90 GiB memory in "
    "use. Of the allocated memory 76.1 GiB is allocated by PyTorch, and 1.3 GiB is reserved by "
    "PyTorch but unallocated. If reserved but unallocated memory is large try setting "
    "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.";

TEST(OutOfMemory, CudaMessageKeepsItsFirstSentences) {
  const c10::OutOfMemoryError e(kHere, kCudaMessage);
  EXPECT_EQ(outOfMemoryReason(e),
            "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.11 "
            "GiB of which 1.20 GiB is free.");
}

TEST(OutOfMemory, CpuAllocatorFailureInGiB) {
  const c10::Error e(kHere,
                     "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't "
                     "allocate memory: you tried to allocate 68719476736 bytes. Error code 12 "
                     "(Cannot allocate memory)");
  EXPECT_EQ(outOfMemoryReason(e), "the host cannot allocate 64.0 GiB");
}

TEST(OutOfMemory, OtherErrorsAreNotMemory) {
  const c10::Error e(kHere, "mat1 and mat2 shapes cannot be multiplied (4x3 and 5x2)");
  EXPECT_EQ(outOfMemoryReason(e), std::nullopt);
  EXPECT_NO_THROW(throwIfOutOfMemory(e, "step 1", "advice"));
}

TEST(OutOfMemory, TheLineNamesWhereAndWhatToChange) {
  const c10::OutOfMemoryError e(kHere, kCudaMessage);
  try {
    throwIfOutOfMemory(e, "step 1", "raise train.grad_accum_steps");
    FAIL() << "no error";
  } catch (const OutOfMemoryError& err) {
    EXPECT_EQ(err.exitCode(), 2);
    EXPECT_THAT(err.what(), ::testing::StartsWith("out of memory in step 1: CUDA out of memory. "
                                                  "Tried to allocate 2.00 GiB."));
    EXPECT_THAT(err.what(), ::testing::EndsWith("is free.; raise train.grad_accum_steps"));
  }
}

}  // namespace
}  // namespace trainrun
