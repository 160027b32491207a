// Test helpers for kernels/: random inputs per dtype, dtype-aware comparison, poison values.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/dtype.h"
#include "kernels/half_bits.h"

namespace trainrun::kernels::testing {

// Fresh seed every run (printed on failure) so the tests keep exploring new inputs.
inline uint32_t freshSeed() {
  static const uint32_t seed = std::random_device{}();
  return seed;
}

// Host buffer of n elements of `dtype`, stored as raw bytes.
struct HostArray {
  Dtype dtype;
  std::vector<uint8_t> bytes;
  HostArray(Dtype d, int64_t n) : dtype(d), bytes(n * elementSize(d)) {}
  int64_t size() const { return static_cast<int64_t>(bytes.size() / elementSize(dtype)); }
  void* data() { return bytes.data(); }
  float get(int64_t i) const {
    if (dtype == Dtype::kFloat32) {
      float v;
      std::memcpy(&v, bytes.data() + 4 * i, 4);
      return v;
    }
    uint16_t h;
    std::memcpy(&h, bytes.data() + 2 * i, 2);
    return dtype == Dtype::kFloat16 ? halfBitsToFloat(h) : bf16BitsToFloat(h);
  }
  void set(int64_t i, float v) {
    if (dtype == Dtype::kFloat32) {
      std::memcpy(bytes.data() + 4 * i, &v, 4);
      return;
    }
    const uint16_t h = dtype == Dtype::kFloat16 ? floatToHalfBits(v) : floatToBf16Bits(v);
    std::memcpy(bytes.data() + 2 * i, &h, 2);
  }
};

// Values spread over several orders of magnitude, as gradients are.
inline HostArray randomArray(Dtype d, int64_t n, std::mt19937& rng, float scale = 100.0f) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-6, 6);
  HostArray a(d, n);
  for (int64_t i = 0; i < n; ++i) a.set(i, normal(rng) * scale * std::ldexp(1.0f, exponent(rng)));
  return a;
}

// Relative tolerance of one rounding in `d` (half an ulp at 2^-10 / 2^-7 mantissa), doubled
// for the fp32 multiply done before the final rounding.
inline float tolerance(Dtype d) {
  switch (d) {
    case Dtype::kFloat32:
      return 1e-6f;
    case Dtype::kFloat16:
      return 1e-3f;
    case Dtype::kBFloat16:
      return 8e-3f;
  }
  return 0;
}

inline void expectClose(const HostArray& actual, const HostArray& expected, const char* what) {
  ASSERT_EQ(actual.size(), expected.size());
  const float tol = tolerance(expected.dtype);
  int reported = 0;
  for (int64_t i = 0; i < actual.size() && reported < 5; ++i) {
    const float a = actual.get(i), e = expected.get(i);
    if (std::isnan(e) ? std::isnan(a) : (a == e || std::fabs(a - e) <= tol * std::fabs(e)))
      continue;
    ++reported;
    ADD_FAILURE() << what << " [" << dtypeName(expected.dtype) << "] element " << i << ": got " << a
                  << ", expected " << e << " (seed " << freshSeed() << ")";
  }
}

}  // namespace trainrun::kernels::testing
