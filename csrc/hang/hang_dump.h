// The rank's side of hang reports: a thread that heartbeats progress and answers dump requests.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "distributed/init.h"

namespace trainrun {

// Call first thing in main(), before any thread starts: blocks kDumpRequestSignal (SIGUSR2) in
// the calling thread, so every later thread inherits the mask and only the dump thread takes
// the request, and installs a handler that passes a request that reaches a thread not created
// from main (a library's) on to the dump thread, or drops it before that thread exists. Also
// installs the stack-dump handler.
void prepareHangDumps();

// With $TRAINRUN_DUMP_DIR set (the launcher sets it), a thread that writes
// rank-<R>.progress there every kBeatIntervalMs and, on each kDumpRequestSignal, rank-<R>.txt:
// rank, node, pid, step, the flight recorder's records, every thread's stacks, then the same
// with gdb's stacks when gdb is on PATH. Without it, nothing starts and dump() does nothing.
// `dist` must outlive this object; its communicator is read under dist.comm_mu.
class HangDumper {
 public:
  explicit HangDumper(const DistContext& dist);
  ~HangDumper();
  HangDumper(const HangDumper&) = delete;
  HangDumper& operator=(const HangDumper&) = delete;

  // Writes the dump now, on the caller's thread: before the rank exits on a collective
  // timeout, so the launcher has its records even though it can no longer be asked. Never
  // throws (a failure is one warning).
  void dump(const std::string& reason);

 private:
  void writeDump(const std::string& reason);
  void loop();
  void heartbeat();
  // What the communicator says, read under dist_.comm_mu.
  struct CommView {
    std::vector<CollectiveRecord> records;  // none without a communicator
    int64_t step = -1;
    int64_t done_ms = 0;      // when the newest completed collective ended (Unix ms; 0: none)
    int64_t generation = -1;  // elastic jobs only
    bool regrouping = false;  // elastic: between generations (no communicator)
  };
  CommView snapshot() const;

  const DistContext& dist_;
  const std::string dir_;
  const int rank_;                                // RANK from the launcher: names the files
  mutable std::atomic<int64_t> last_step_{-1};    // the step while there is no communicator
  mutable std::atomic<int64_t> last_done_ms_{0};  // kept across communicators (generations)
  std::mutex dump_mu_;                            // one dump at a time
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace trainrun
