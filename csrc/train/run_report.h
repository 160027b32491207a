// Reporting a run: the start-up lines, the step lines and their history, throughput, membership
// and the step profile.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "amp/precision.h"
#include "config/config.h"
#include "data/dataset.h"
#include "distributed/init.h"
#include "metrics/metrics.h"
#include "metrics/step_profile.h"
#include "train/device_report.h"
#include "train/run_record.h"

namespace trainrun {

class TensorBoardWriter;

// Rank 0's record of the run's progress: each report is a log line, a metrics.jsonl entry and
// TensorBoard scalars.
class RunHistory {
 public:
  // Once the start step is known: <output_dir>/metrics.jsonl (a resumed run keeps the history
  // up to step `completed` and repeats the rest) and the TensorBoard event file in
  // `tensorboard_dir` (output.tensorboard_dir; empty: <output_dir>/tensorboard).
  RunHistory(const std::string& output_dir, const std::string& tensorboard_dir, int64_t completed,
             int64_t total_steps);
  ~RunHistory();

  // The log line "step=N/TOTAL <values>", the same values as one metrics.jsonl entry and as
  // TensorBoard scalars at `step`.
  void report(int64_t step, const Metrics& values);

 private:
  const int64_t total_steps_;
  std::unique_ptr<MetricsHistory> history_;
  std::unique_ptr<TensorBoardWriter> tensorboard_;
};

// Rank 0's start-up lines: the run line (`backend`: the communicator's name; `params` and
// `buckets`: the model's and the Reducer's), for tables the data line and the fetches, and the
// device line.
void logRunStart(const RunRecord& run, const config::JobConfig& config, const std::string& backend,
                 int64_t params, int64_t buckets, const TrainEvalSplit& data);

// Adds tflops= (model FLOPs per second per rank) and, where `peak_tflops` is known, mfu=.
void addThroughput(Metrics& line, double flops_per_sample, double samples_per_sec, int world_size,
                   double peak_tflops);
// Elastic jobs: membership_changes, lost_steps, recovery_ms_max, world_size_min, from what
// each re-formed generation recorded in the store (reportRecovery).
void addMembership(Metrics& metrics, const DistContext& dist);

// The shape of a profiled run, for profile.json.
struct ProfiledRun {
  std::vector<torch::Tensor> params;  // the model's, in registration order
  int world_size = 1;
  torch::Device device{torch::kCPU};
};
// The "time_split:" log line and, with train.profile, <output_dir>/profile.json. Nothing before
// the profile has steps past its warm-up.
void reportProfile(const StepProfile& profile, const config::JobConfig& config,
                   const ProfiledRun& run, const std::string& output_dir);

}  // namespace trainrun
