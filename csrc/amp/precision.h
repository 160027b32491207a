// Training precision (fp32 / fp16 / bf16) and what it implies for autocast and loss scaling.
#pragma once

#include <torch/torch.h>

#include <string>

namespace trainrun {

enum class Precision { kFp32, kFp16, kBf16 };

// Accepts fp32/float32, fp16/float16/half, bf16/bfloat16 (any case); else ConfigError.
Precision parsePrecision(const std::string& text);
const char* precisionName(Precision p);

// Dtype autocast runs matmuls/convolutions in: kHalf, kBFloat16, or kFloat (autocast off).
torch::ScalarType autocastDtype(Precision p);
inline bool autocastEnabled(Precision p) { return p != Precision::kFp32; }
// Only fp16 needs dynamic loss scaling: bf16 has fp32's exponent range, so gradients do not
// underflow and overflow no more often than in fp32.
inline bool needsLossScaling(Precision p) { return p == Precision::kFp16; }

}  // namespace trainrun
