// TRAINRUN_FAULT_FREEZE: parsed once; a flag the dump thread reads; sleeping for ever.
#include "train/fault_freeze.h"

#include <unistd.h>

#include <atomic>
#include <string>

#include "core/env.h"
#include "core/error.h"
#include "core/strings.h"

namespace trainrun {
namespace {

std::atomic<bool> g_frozen{false};

// The step at which this rank freezes, or -1.
int64_t freezeStep() {
  static const int64_t step = [] {
    const std::string value = env::get(env::kFaultFreeze);
    if (value.empty()) return int64_t{-1};
    const size_t colon = value.find(':');
    if (colon == std::string::npos)
      throw ConfigError(std::string(env::kFaultFreeze) + "=" + value +
                        ": give RANK:STEP (e.g. 1:20), or unset it");
    const std::string flag = env::kFaultFreeze;
    const int64_t rank = parseWholeNumber(value.substr(0, colon), flag + "'s RANK", 0, 1 << 24);
    const int64_t at =
        parseWholeNumber(value.substr(colon + 1), flag + "'s STEP", 0, int64_t{1} << 40);
    return rank == env::integer(env::kRank, 0, 1 << 24).value_or(0) ? at : int64_t{-1};
  }();
  return step;
}

}  // namespace

void freezeIfInjected(int64_t step) {
  if (step != freezeStep()) return;
  g_frozen = true;
  while (true) ::pause();  // signals with handlers return here; SIGKILL ends it
}

bool frozenByInjection() { return g_frozen.load(); }

}  // namespace trainrun
