// Timing helpers: the monotonic clock, and Unix milliseconds for what other processes read.
#pragma once

#include <chrono>
#include <cstdint>

namespace trainrun {

using Clock = std::chrono::steady_clock;

// Seconds since `start` as a double.
inline double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// `t` as Unix milliseconds (comparable between processes, and between hosts with synced clocks).
inline int64_t unixMs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
inline int64_t unixNowMs() { return unixMs(std::chrono::system_clock::now()); }

}  // namespace trainrun
