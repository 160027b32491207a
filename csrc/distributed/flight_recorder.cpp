// FlightRecorder: a bounded, locked ring of CollectiveRecords.
#include "distributed/flight_recorder.h"

#include <cstdio>

namespace trainrun {

std::string CollectiveRecord::describe() const {
  return "collective #" + std::to_string(seq) + " (" + op + " of " + std::to_string(bytes) +
         " bytes at step " + std::to_string(step) + ")";
}

const char* stateName(CollectiveRecord::State state) {
  switch (state) {
    case CollectiveRecord::State::kIssued:
      return "issued";
    case CollectiveRecord::State::kCompleted:
      return "completed";
    case CollectiveRecord::State::kFailed:
      return "failed";
  }
  return "unknown";
}

std::string summarize(const std::vector<CollectiveRecord>& records, size_t count) {
  if (records.empty()) return "none issued";
  const auto now = std::chrono::system_clock::now();
  std::string line;
  for (size_t i = records.size() > count ? records.size() - count : 0; i < records.size(); ++i) {
    const CollectiveRecord& r = records[i];
    char age[32] = "";
    if (r.state == CollectiveRecord::State::kIssued)
      std::snprintf(age, sizeof(age), " %.1f s ago",
                    std::chrono::duration<double>(now - r.start).count());
    line += (line.empty() ? "" : "; ") +
            ("#" + std::to_string(r.seq) + " " + r.op + " of " + std::to_string(r.bytes) +
             " bytes at step " + std::to_string(r.step) + " " + stateName(r.state) + age);
  }
  return line;
}

void FlightRecorder::setStep(int64_t step) {
  std::lock_guard<std::mutex> lock(mu_);
  step_ = step;
}

int64_t FlightRecorder::step() const {
  std::lock_guard<std::mutex> lock(mu_);
  return step_;
}

void FlightRecorder::setTag(std::string tag) {
  std::lock_guard<std::mutex> lock(mu_);
  next_tag_ = std::move(tag);
}

CollectiveRecord FlightRecorder::issue(const std::string& op, int64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  CollectiveRecord r;
  r.seq = next_seq_++;
  r.op = op;
  r.bytes = bytes;
  r.step = step_;
  r.start = std::chrono::system_clock::now();
  r.tag = std::move(next_tag_);
  next_tag_.clear();
  records_.push_back(r);
  if (records_.size() > capacity_) records_.pop_front();
  return r;
}

void FlightRecorder::finish(uint64_t seq, bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  if (records_.empty() || seq < records_.front().seq || seq > records_.back().seq) return;
  CollectiveRecord& r = records_[seq - records_.front().seq];
  if (r.state != CollectiveRecord::State::kIssued) return;
  r.state = ok ? CollectiveRecord::State::kCompleted : CollectiveRecord::State::kFailed;
  r.end = std::chrono::system_clock::now();
}

std::vector<CollectiveRecord> FlightRecorder::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {records_.begin(), records_.end()};
}

uint64_t FlightRecorder::lastSeq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_seq_ - 1;
}

}  // namespace trainrun
