// The launcher's last word on a run: one summary line and the process exit code.
#pragma once

#include <chrono>
#include <string>

#include "launch/agent.h"

namespace trainrun::launch {

// "trainrun: rank 1 failed first: exit code 3 (stopped 1 other rank)",
// "trainrun: rank 0 failed first: killed by SIGKILL (likely an out-of-memory kill; check
// dmesg)", "trainrun: received SIGINT; stopped 2 ranks", "trainrun: node 1 rank 3 failed
// first: exit code 1; stopped 2 ranks on this node", "trainrun: hang: rank 1 (node 0) did not
// join allreduce #41 (bucket 0, 332 KiB) at step 20; stopped 2 ranks", "trainrun: preempted
// (SIGTERM); emergency checkpoint committed at step 812 ...; stopped 2 ranks"; "" when every
// rank succeeded.
std::string summaryLine(const AgentResult& result, std::chrono::milliseconds grace_period);

// kExitPreempted (143) after a preemption (0 if every rank had finished anyway), else the
// failing rank's exit code (128 + signal if killed), else 128 + the signal the launcher
// received, else kExitLostNode (129) when another node failed first or was lost, else 1 when
// the agent stopped a hang, else 0.
int launcherExitCode(const AgentResult& result);

}  // namespace trainrun::launch
