// Learning-rate schedule: linear warmup, then constant, cosine, linear or warmup-stable-decay.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "config/config.h"

namespace trainrun {

// Learning rate for optimizer step `step` (0-based) of `total_steps`.
inline double learningRate(const config::JobConfig& c, int64_t step, int64_t total_steps) {
  const double peak = c.optimizer().lr();
  const int64_t warmup = c.scheduler().warmup_steps();
  if (step < warmup) return peak * double(step + 1) / double(warmup);
  const std::string& name = c.scheduler().name();
  if (name == "constant") return peak;
  const double floor = peak * c.scheduler().min_lr_ratio();
  const double progress =
      std::min(1.0, double(step - warmup) / double(std::max<int64_t>(1, total_steps - warmup)));
  if (name == "linear") return floor + (peak - floor) * (1.0 - progress);
  if (name == "wsd") {
    const double decay = c.scheduler().decay_fraction();
    if (progress <= 1.0 - decay || decay <= 0) return peak;
    return floor + (peak - floor) * (1.0 - progress) / decay;
  }
  return floor + (peak - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

}  // namespace trainrun
