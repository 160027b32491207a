// Test-only fault injection: one rank freezes mid-run and its dump thread stops answering.
#pragma once

#include <cstdint>

namespace trainrun {

// With TRAINRUN_FAULT_FREEZE=RANK:STEP (env.h; for tests, as fault_proxy.py is for storage),
// the rank whose RANK is RANK freezes when it reaches STEP: its training thread sleeps for
// ever before the step's first collective and its dump thread stops heartbeating and answering
// dump requests, as a process whose threads deadlocked on one lock would. It is neither stopped
// nor in the kernel (state S): the launcher learns it is stuck only because it does not answer.
// A respawned rank freezes again when it reaches STEP. A bad value is a ConfigError.

// On the training thread at the start of each step; never returns when the fault fires.
void freezeIfInjected(int64_t step);
// On the dump thread: true once the fault fired (the thread then blocks for ever).
bool frozenByInjection();

}  // namespace trainrun
