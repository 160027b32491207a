// The agent's side of hang reports: a private dump folder, stall checks, gathering the dumps.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"

namespace trainrun::launch {

// Used by LocalAgent on its own thread. With hang_timeout 0 it does nothing at all: no folder,
// no environment, no signals (a `-- COMMAND` worker would die of SIGUSR2).
class HangWatch {
 public:
  // Makes the dump folder: $TRAINRUN_DUMP_DIR when the launcher has it (kept), else a private
  // one under $TMPDIR (removed at the end unless it holds a report). A folder that cannot be
  // made is one warning, and hang reports are off.
  HangWatch(std::chrono::milliseconds hang_timeout, std::chrono::milliseconds dump_wait);
  ~HangWatch();
  HangWatch(const HangWatch&) = delete;
  HangWatch& operator=(const HangWatch&) = delete;

  // `env` with TRAINRUN_DUMP_DIR when on.
  std::vector<std::string> rankEnv(std::vector<std::string> env) const;
  // A rank's process, at start or when it is respawned.
  void add(int rank, pid_t pid);

  // Non-empty, saying what it saw, once some rank's oldest open collective has been open for
  // hang_timeout (heartbeats read at most every 0.5 s).
  std::string stall();
  // True when `rank` wrote a dump as it ended: it timed out in a collective (a hang).
  bool leftDump(int rank) const;

  // Asks every live rank that heartbeats for its dump (kDumpRequestSignal), runs gdb itself on
  // ranks that cannot answer (stopped), waits up to dump_wait, prints the table and the
  // culprits' stacks on stderr, writes all dumps to one file and prints its path. Returns the
  // report's one-line verdict ("" when off). `why` says what started it. Until some rank has
  // stepped past the last report it only returns that one's verdict: one hang, one report (an
  // elastic job's ranks time out one after another in it).
  std::string report(const std::string& why);

 private:
  bool on() const { return !dir_.empty(); }
  int64_t maxStep() const;  // the highest step in the ranks' heartbeats

  const std::chrono::milliseconds hang_timeout_;
  const std::chrono::milliseconds dump_wait_;
  std::string dir_;
  bool private_dir_ = false;
  bool kept_ = false;  // the folder holds a report: not removed
  std::vector<std::pair<int, pid_t>> ranks_;
  Clock::time_point next_check_{};
  int reports_ = 0;
  int64_t last_max_step_ = -1;  // the highest step the last report saw
  std::string last_verdict_;
};

}  // namespace trainrun::launch
