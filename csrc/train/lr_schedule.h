// Learning-rate schedule: linear warmup, then constant or cosine decay.
#pragma once

#include <cmath>
#include <cstdint>

#include "config/config.h"

namespace trainrun {

// Learning rate for optimizer step `step` (0-based) of `total_steps`.
inline double learningRate(const config::JobConfig& c, int64_t step, int64_t total_steps) {
  const double peak = c.optimizer().lr();
  const int64_t warmup = c.scheduler().warmup_steps();
  if (step < warmup) return peak * double(step + 1) / double(warmup);
  if (c.scheduler().name() == "constant") return peak;
  const double floor = peak * c.scheduler().min_lr_ratio();
  const double progress =
      double(step - warmup) / double(std::max<int64_t>(1, total_steps - warmup));
  return floor + (peak - floor) * 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, progress)));
}

}  // namespace trainrun
