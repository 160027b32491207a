// SampleLog: which windows each rank trained on, step by step (TRAINRUN_SAMPLE_LOG; tests only).
#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
#include <vector>

namespace trainrun {

// With TRAINRUN_SAMPLE_LOG=<folder> (env.h), a data.name=tokens run's every rank appends one
// line per micro-batch it trains on to <folder>/samples-<pid>.txt:
//   <step> <micro> <rank> <world_size> <window id>,<window id>,...
// Concatenated over the ranks in rank order, a step's micro-batches are its global batch: what
// benchmarks/token_determinism.py hashes to show that resuming at another world size,
// accumulation or batch continues the same sample stream. A redone step appends again; the
// last line for a step wins.
class SampleLog {
 public:
  // Null unless TRAINRUN_SAMPLE_LOG is set.
  static std::unique_ptr<SampleLog> fromEnv();

  void add(int64_t step, int64_t micro, int rank, int world_size,
           const std::vector<uint64_t>& window_ids);

 private:
  explicit SampleLog(const std::string& path);
  std::ofstream out_;
};

}  // namespace trainrun
