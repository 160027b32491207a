// The time split of a training step and the one-node profile `trainrun bench predict` reads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace trainrun {

// Where one optimizer step's wall time went, in milliseconds. comm_ms is the communication
// left exposed after backward (finalizeBackward's wait); the part that overlapped backward is
// inside backward_ms.
struct StepPhases {
  double data_ms = 0;       // sampling and gathering the batch
  double forward_ms = 0;    // forward and loss
  double backward_ms = 0;   // backward (with the all-reduces launched from its hooks)
  double comm_ms = 0;       // waiting for the all-reduces after backward
  double optimizer_ms = 0;  // zeroing, unscaling, the optimizer step
  double step_ms = 0;       // the whole step
};

// What one node's training step looks like: the median phases and each parameter's gradient
// (size, and when its hook fired after the last micro-step's backward began).
struct NodeProfile {
  StepPhases phases;
  std::vector<int64_t> grad_bytes;    // per parameter, registration order
  std::vector<double> grad_ready_ms;  // per parameter, since backward began
  std::vector<int> grad_dtype;        // per parameter, a dtype code (bucketing only compares)
  int64_t world_size = 1;             // ranks of the profiled run
  int64_t global_batch_size = 0;      // of the profiled run
  int64_t grad_accum_steps = 1;
  double first_bucket_mb = 1;
  double bucket_cap_mb = 25;
  int64_t wire_bytes = 4;  // per gradient element on the wire (2: compressed)
  int64_t steps = 0;       // steps the medians are over
  std::string device;      // "cpu", "cuda:0"
};

// Collects every step's phases and gradient times; medians skip the first `warmup` steps.
class StepProfile {
 public:
  explicit StepProfile(int64_t warmup = 3) : warmup_(warmup) {}
  void add(const StepPhases& phases, std::vector<double> grad_ready_ms);
  int64_t steps() const;  // steps past the warm-up
  StepPhases medianPhases() const;
  // The q-quantile (0..1, nearest rank) of one phase over the steps past the warm-up, e.g.
  // quantile(&StepPhases::data_ms, 0.99): how long the slowest steps waited for their batch.
  double quantile(double StepPhases::*field, double q) const;
  std::vector<double> medianGradReady() const;

 private:
  int64_t warmup_, seen_ = 0;
  std::vector<StepPhases> phases_;
  std::vector<std::vector<double>> ready_;  // per parameter, per step
};

// "step_ms=12.3 data_ms=0.4 forward_ms=... comm_ms=... optimizer_ms=..."
std::string phasesLogFields(const StepPhases& phases);

// profile.json: writes atomically; reads with one error line naming the file and the field.
void writeNodeProfile(const NodeProfile& profile, const std::string& path);
NodeProfile readNodeProfile(const std::string& path);

}  // namespace trainrun
