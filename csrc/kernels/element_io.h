// Host load/store of each Dtype as fp32, so the references share one loop per kernel.
#pragma once

#include <cstdint>

#include "kernels/half_bits.h"

namespace trainrun::kernels {

struct HostF32 {
  using Storage = float;
  static float load(float v) { return v; }
  static float store(float v) { return v; }
};

struct HostF16 {
  using Storage = uint16_t;
  static float load(uint16_t v) { return halfBitsToFloat(v); }
  static uint16_t store(float v) { return floatToHalfBits(v); }
};

struct HostBf16 {
  using Storage = uint16_t;
  static float load(uint16_t v) { return bf16BitsToFloat(v); }
  static uint16_t store(float v) { return floatToBf16Bits(v); }
};

}  // namespace trainrun::kernels
