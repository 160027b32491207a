// FlightRecorder: the numbered log of a communicator's recent collectives (for hang reports).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace trainrun {

// One collective as the recorder saw it.
struct CollectiveRecord {
  enum class State { kIssued, kCompleted, kFailed };

  uint64_t seq = 0;  // 1, 2, ... in issue order; equal on every rank for the same collective
  std::string op;    // "allreduce", "broadcast", "allgather", "barrier"
  int64_t bytes = 0;
  int64_t step = -1;  // training step the trainer had announced (-1: before the first)
  std::chrono::system_clock::time_point start;  // when it was issued (wall clock: comparable
                                                // across the ranks of a hang report)
  State state = State::kIssued;
  std::chrono::system_clock::time_point end;  // when it completed or failed (unset: issued)
  std::string tag;  // what the caller said it is, e.g. "bucket 3"; may be empty

  // "collective #12 (allreduce of 4096 bytes at step 7)": the start of every message about it.
  std::string describe() const;
};

const char* stateName(CollectiveRecord::State state);

// The last `count` records on one line, oldest first, for a failure report: "#40 allreduce of
// 4096 bytes at step 19 completed; #41 allreduce of 4096 bytes at step 20 issued 30.2 s ago".
// Ranks' lines side by side show which rank stopped issuing, or which collective never ended.
std::string summarize(const std::vector<CollectiveRecord>& records, size_t count = 4);

// Thread-safe: collectives are issued on the caller's thread and finish on a backend's worker
// or watchdog thread. Keeps the last `capacity` records, as c10d's flight recorder does.
class FlightRecorder {
 public:
  explicit FlightRecorder(size_t capacity = 256) : capacity_(capacity) {}

  // Training step named in the records of later collectives.
  void setStep(int64_t step);
  int64_t step() const;
  // Tag of the next collective issued (only that one).
  void setTag(std::string tag);
  // Records a newly issued collective and returns it (with its sequence number).
  CollectiveRecord issue(const std::string& op, int64_t bytes);
  // Marks collective `seq` done or failed (no-op once it has left the window).
  void finish(uint64_t seq, bool ok);
  // The retained records, oldest first.
  std::vector<CollectiveRecord> snapshot() const;
  // Sequence number of the last collective issued (0: none yet).
  uint64_t lastSeq() const;

 private:
  mutable std::mutex mu_;
  const size_t capacity_;
  int64_t step_ = -1;
  std::string next_tag_;
  uint64_t next_seq_ = 1;
  std::deque<CollectiveRecord> records_;  // seqs ascending, contiguous
};

}  // namespace trainrun
