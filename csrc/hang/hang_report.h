// Hang reports: from the ranks' dumps, the rank that did not join the collective others wait in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hang/rank_dump.h"

namespace trainrun::launch {

// What the launcher knows of one rank when it writes the report.
struct RankEvidence {
  int rank = 0;
  int pid = 0;
  std::optional<RankDump> dump;          // its answer, or the dump it left as it failed
  std::string dump_text;                 // that dump as the rank wrote it (for the full file)
  std::optional<RankProgress> progress;  // its last heartbeat
  std::string process = "running";       // "running", "stopped by a signal", "exited", ...
  std::string gdb;  // the launcher's gdb stacks of a rank that could not answer; may be empty
  bool unanswered = false;  // asked for its dump while it ran, it wrote none in time
};

// Why the launcher kills this rank at once (SIGKILL) rather than with SIGTERM and a grace
// period it could not use: "stopped by a signal", "stopped by a debugger", "in uninterruptible
// sleep (D)", "did not answer its dump request"; "" for a rank that can act on SIGTERM.
std::string stuckReason(const RankEvidence& e);

// When the job last made progress: the newest collective any of these ranks completed (Unix
// ms; 0 when none is known).
int64_t lastCompletedMs(const std::vector<RankEvidence>& ranks);

struct HangReport {
  std::vector<std::string> lines;  // the table, then one headline per culprit with its stack
  std::string verdict;             // the first headline alone, for the summary line
  std::vector<int> culprits;       // ranks that did not join (or stopped inside) the collective
};

// The last collective issued by any rank is the one the job waits in; a rank whose last is
// lower did not join it. When every rank joined and it is still open, a rank that cannot
// answer (stopped, stuck in the kernel) is named; else the transport is suspected. `now_ms`
// (Unix ms) ages what is known only from heartbeats.
HangReport analyzeHang(const std::vector<RankEvidence>& ranks, int64_t now_ms);

// "4096 B", "332 KiB", "25 MiB", "1.5 GiB".
std::string humanBytes(int64_t bytes);

}  // namespace trainrun::launch
