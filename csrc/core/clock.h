// Monotonic timing helpers.
#pragma once

#include <chrono>

namespace trainrun {

using Clock = std::chrono::steady_clock;

// Seconds since `start` as a double.
inline double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace trainrun
