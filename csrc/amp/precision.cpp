// Parsing and naming of Precision values.
#include "amp/precision.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"

namespace trainrun {

Precision parsePrecision(const std::string& text) {
  std::string t = text;
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  if (t == "fp32" || t == "float32") return Precision::kFp32;
  if (t == "fp16" || t == "float16" || t == "half") return Precision::kFp16;
  if (t == "bf16" || t == "bfloat16") return Precision::kBf16;
  throw ConfigError("unknown precision '" + text + "' (expected fp32, fp16 or bf16)");
}

const char* precisionName(Precision p) {
  switch (p) {
    case Precision::kFp32:
      return "fp32";
    case Precision::kFp16:
      return "fp16";
    case Precision::kBf16:
      return "bf16";
  }
  return "?";
}

torch::ScalarType autocastDtype(Precision p) {
  switch (p) {
    case Precision::kFp16:
      return torch::kHalf;
    case Precision::kBf16:
      return torch::kBFloat16;
    case Precision::kFp32:
      break;
  }
  return torch::kFloat;
}

}  // namespace trainrun
