// Metric outputs: the key=value log line, metrics.json and the per-step metrics.jsonl.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace trainrun {

using MetricValue = std::variant<int64_t, double, std::string>;
using Metrics = std::vector<std::pair<std::string, MetricValue>>;

// `v` in plain decimal with `significant` significant digits and never an exponent, trailing
// zeros dropped: 6e-05 -> "0.00006", 19521.84 -> "19521.8", 2.0 -> "2"; nan, inf, -inf.
std::string plainDecimal(double v, int significant = 6);

// "step=10 epoch=0 train_loss=0.4321 ..." in the given order, doubles in plainDecimal(), so a
// regex such as `train_loss=([0-9.]+)` matches every value.
std::string formatLogLine(const Metrics& metrics);

// Writes metrics as one flat JSON object to `path` atomically (temporary file, rename).
void writeMetricsJson(const Metrics& metrics, const std::string& path);

// metrics.jsonl: one JSON object per logged line (each with an integer "step"), appended and
// flushed as training goes, so the file is a per-step history that survives a crash.
class MetricsHistory {
 public:
  // Opens `path` for appending. Entries of an interrupted run after `resumed_step` (the step
  // the run resumes from; 0 for a fresh start) are dropped first: the run repeats those steps.
  // Throws StorageError naming the file when it cannot be written.
  MetricsHistory(std::string path, int64_t resumed_step);
  void append(const Metrics& entry);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::unique_ptr<FILE, int (*)(FILE*)> file_;
};

}  // namespace trainrun
