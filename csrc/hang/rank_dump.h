// The files a rank leaves for the launcher's hang report: its progress heartbeat and its dump.
#pragma once

#include <csignal>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hang/stack_dump.h"

namespace trainrun {

// The signal the launcher sends a rank to ask for its dump.
inline constexpr int kDumpRequestSignal = SIGUSR2;

// <dir>/rank-<R>.progress and <dir>/rank-<R>.txt: each replaced atomically, never torn.
std::string progressPath(const std::string& dir, int rank);
std::string dumpPath(const std::string& dir, int rank);

// How often a rank heartbeats; a heartbeat older than kStaleBeatMs is from a rank that stopped
// answering (its open collective may long be done).
inline constexpr int64_t kBeatIntervalMs = 500;
inline constexpr int64_t kStaleBeatMs = 3000;

// What a rank's heartbeat says, every kBeatIntervalMs. Times are Unix milliseconds (comparable
// between processes of one host).
struct RankProgress {
  int pid = 0;
  int node = 0;               // GROUP_RANK
  int64_t step = -1;          // the step the trainer announced last
  uint64_t seq = 0;           // the last collective issued (0: none yet)
  uint64_t open_seq = 0;      // the oldest collective issued and not finished (0: none)
  int64_t open_since_ms = 0;  // when open_seq was issued
  int64_t beat_ms = 0;        // when this was written
  int64_t generation = -1;    // elastic jobs: the group generation it is in (-1: not elastic)
  bool regrouping = false;    // elastic jobs: it left its generation, waits for the next
  // When the newest collective it completed ended (0: none yet); kept across an elastic job's
  // generations, so a rank re-forming the group still says when it last made progress.
  int64_t done_ms = 0;
};
std::string formatProgress(const RankProgress& p);
std::optional<RankProgress> parseProgress(const std::string& text);

// One flight-recorder record as a dump shows it.
struct DumpRecord {
  uint64_t seq = 0;
  std::string op;
  int64_t bytes = 0;
  int64_t step = -1;
  std::string state;   // "issued", "completed", "failed"
  int64_t age_ms = 0;  // since it was issued, at the time of the dump
  std::string tag;     // e.g. "bucket 3"; may be empty
};

// A rank's answer to a dump request: who it is, where it is, its recent collectives, stacks.
struct RankDump {
  int rank = -1;
  int node = 0;  // GROUP_RANK
  int pid = 0;
  int64_t step = -1;
  uint64_t last_seq = 0;
  int64_t time_ms = 0;      // when it was taken (Unix ms)
  int64_t done_ms = 0;      // as in RankProgress
  bool final = false;       // false: written before gdb's stacks, which may follow
  int64_t generation = -1;  // as in RankProgress
  bool regrouping = false;
  std::string reason;  // kRequestedReason + the asking pid, or the error that ended the rank
  std::vector<DumpRecord> records;  // oldest first
  std::vector<ThreadStack> threads;
  std::string gdb;  // gdb's `thread apply all bt`; "" when not taken
};
inline constexpr const char* kRequestedReason = "requested by pid ";
// True for the dump a rank writes as it ends on an error (not one the launcher asked for).
inline bool isExitDump(const RankDump& d) { return d.reason.rfind(kRequestedReason, 0) != 0; }
std::string formatRankDump(const RankDump& d);
// nullopt when `text` is not a dump (no header line); unknown lines are skipped.
std::optional<RankDump> parseRankDump(const std::string& text);

}  // namespace trainrun
