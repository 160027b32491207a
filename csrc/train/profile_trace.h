// ProfileTrace: a window of steps recorded by LibTorch's profiler (train.profile_trace).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace trainrun {

// Records steps [start, start + steps) with the Kineto profiler on the rank that owns it: CPU
// ops, and on a GPU the CUDA kernels. When the window ends (after a device sync) it writes to
// `output_dir`: profile_trace.json (a Chrome trace: chrome://tracing, Perfetto, TensorBoard)
// and profile_kernels.json, the 40 names that took the most time per step: CUDA kernels on a
// GPU; on CPU, operators by inclusive time (a nested op counts in its parent too). The table is
// what benchmarks/gpt_step_time.py sets beside PyTorch's. Failures to write are warnings: a
// profile never stops a run.
class ProfileTrace {
 public:
  ProfileTrace(int64_t start, int64_t steps, std::string output_dir, bool cuda);
  ~ProfileTrace();
  ProfileTrace(const ProfileTrace&) = delete;
  ProfileTrace& operator=(const ProfileTrace&) = delete;

  void beforeStep(int64_t step);  // starts the profiler at `start`
  void afterStep(int64_t step);   // stops it and writes after the window's last step

 private:
  void finish();

  const int64_t start_, steps_;
  const std::string output_dir_;
  const bool cuda_;
  bool recording_ = false;
};

}  // namespace trainrun
