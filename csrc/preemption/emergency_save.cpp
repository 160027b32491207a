// planEmergencySave: the estimate (measured, or from bytes), the margins, and the wording.
#include "preemption/emergency_save.h"

#include <algorithm>
#include <cstdio>

namespace trainrun {
namespace {

constexpr double kSafetyFactor = 1.25;    // saves vary; the emergency one must not be cut short
constexpr double kExitSeconds = 1.0;      // for the ranks to exit and the agent to see them
constexpr double kBytesPerSecond = 50e6;  // per rank, without a measured save: conservative
constexpr double kFixedSeconds = 1.0;     // per save without a measured one: requests, fsyncs

bool fits(double seconds, double left) { return seconds * kSafetyFactor + kExitSeconds <= left; }

std::string formatBytes(double bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int unit = 0;
  while (bytes >= 1000 && unit < 4) {
    bytes /= 1000;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof(text), bytes < 10 ? "%.1f %s" : "%.0f %s", bytes, units[unit]);
  return text;
}

std::string resumesFrom(int64_t committed_step) {
  return committed_step < 0 ? "the run starts over (no checkpoint is committed)"
                            : "the run resumes from step " + std::to_string(committed_step);
}

}  // namespace

std::string formatSeconds(double seconds) {
  char text[32];
  const char* format = seconds < 0.01 ? "%.3f s"
                       : seconds < 1  ? "%.2f s"
                       : seconds < 10 ? "%.1f s"
                                      : "%.0f s";
  std::snprintf(text, sizeof(text), format, seconds);
  return text;
}

SavePlan planEmergencySave(const SaveBudget& b) {
  SavePlan plan;
  if (b.last_save_seconds) {
    plan.estimate_seconds = *b.last_save_seconds;
    plan.basis = "the last save took " + formatSeconds(plan.estimate_seconds);
  } else {
    const double per_rank = double(b.state_bytes) / std::max(1, b.world_size);
    plan.estimate_seconds = kFixedSeconds + per_rank / kBytesPerSecond;
    plan.basis = "no save measured yet: " + formatBytes(per_rank) + " per rank at a conservative " +
                 formatBytes(kBytesPerSecond) + "/s needs about " +
                 formatSeconds(plan.estimate_seconds);
  }
  const std::string left = formatSeconds(b.seconds_left) + " are left before the deadline";
  if (b.committed_step == b.step) return plan;  // this very step is committed already

  const bool inflight = b.inflight_step >= 0;
  const double inflight_left =
      inflight ? std::max(0.0, plan.estimate_seconds - b.inflight_seconds) : 0;
  const std::string inflight_words =
      inflight ? "the save of step " + std::to_string(b.inflight_step) + " in flight needs about " +
                     formatSeconds(inflight_left) + " more and "
               : "";
  if (inflight && b.inflight_step == b.step) {  // the periodic save of this step is under way
    plan.wait_inflight = fits(inflight_left, b.seconds_left);
    if (!plan.wait_inflight)
      plan.why_not =
          inflight_words + plan.basis + ", and " + left + "; " + resumesFrom(b.committed_step);
    return plan;
  }
  if (fits(inflight_left + plan.estimate_seconds, b.seconds_left)) {
    plan.wait_inflight = inflight;
    plan.save = true;
    return plan;
  }
  plan.wait_inflight = inflight && fits(inflight_left, b.seconds_left);
  plan.why_not = inflight_words + plan.basis + " and " + left + "; " +
                 resumesFrom(plan.wait_inflight ? b.inflight_step : b.committed_step);
  return plan;
}

}  // namespace trainrun
