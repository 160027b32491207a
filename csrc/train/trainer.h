// Trainer: the data-parallel training loop that wires data, model, Reducer and metrics.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "amp/precision.h"
#include "config/config.h"
#include "core/clock.h"
#include "data/data_digest.h"
#include "data/dataset.h"
#include "metrics/step_profile.h"
#include "train/device_report.h"

namespace trainrun {

struct DistContext;
struct EvalPass;
struct EvalResult;
struct Replica;
struct RunPosition;
struct RunRecord;
class CheckpointManager;
struct CheckpointState;
class GraphedStep;
class GradClipper;
class LossScaler;
class Model;
class Preemption;
class Reducer;
class ProfileTrace;
class RunHistory;
class TrainBatches;

class Trainer {
 public:
  // `config_path` only names the run when neither run.name nor TRAINING_JOB_NAME is set.
  Trainer(config::JobConfig config, std::string config_path, DistContext& dist);
  ~Trainer();

  // Trains for the configured steps, evaluates, and (rank 0) writes the outputs.
  void run();

 private:
  // One pass over `data`, each rank forwarding its 1/N slice; predictions gathered on all.
  EvalPass evaluatePass(const Dataset& data);
  // The constructor's steps, in order (checkpoints first: storage that cannot work fails in
  // seconds, not at the first save).
  void openCheckpoints();   // checkpoint storage, probed, and output.dir (ConfigError)
  void choosePrecision();   // precision and loss scaling for this device
  void loadData();          // dataset on the host and this rank's batches of each step
  void buildModel();        // model on the device, Reducer, optimizer
  void logStart() const;    // rank 0: the run line, the table line and the device line
  void setUpCheckpoints();  // resumes from a checkpoint if asked

  // Makes every rank hold the newest state any rank holds: at the start (no rank holds any)
  // the checkpoint's or the seeded initialization, with rank 0's parameters everywhere; after
  // elastic recovery, a healthy peer's whole state (parameters, optimizer, loss scale, RNG,
  // step) for the ranks that are behind or new. Sets completed_.
  // Returns the rank whose state every rank now holds.
  int syncState();
  // Elastic jobs: the group failed (`why`); re-form it and continue from the newest state.
  void recover(const std::string& why);
  void openHistoryOnRank0();
  void openProfileTrace();  // rank 0, train.profile_trace > 0
  // One step and what follows it (log window, checkpoint, evaluation).
  void runStep(int64_t step);
  // Rank 0, at the end of a log window: the step line.
  void reportWindow(int64_t step, double samples_per_sec, double seconds);

  // One optimizer step (or a skipped one, on fp16 overflow). Adds this rank's loss to the
  // device-side window sum; nothing is read back to the host here.
  void trainStep(int64_t step);
  // The micro-steps' forward and backward; returns when the last backward began.
  Clock::time_point forwardBackward(int64_t step);
  // One micro-batch's loss under autocast, weighted and divided by the accumulation count.
  torch::Tensor microLoss(const torch::Tensor& x, const torch::Tensor& y);
  // After the gradients are reduced: unscale, check and step (or skip, on fp16 overflow).
  void optimizerStep();
  // The mean loss of the window's steps over all ranks: the one host read of the window.
  double readWindowLoss(int64_t window_steps);
  void saveCheckpoint(int64_t steps_done);
  // The state a checkpoint or a preempted rank's last save holds after `steps_done` steps.
  CheckpointState snapshot(int64_t steps_done);
  RunPosition position(int64_t steps_done) const;  // what a snapshot's counters say
  Replica replica();                               // the state every rank holds alike
  // The step's split is kept: on CPU (exact without syncs) or with train.profile (synced).
  bool keepsTimeSplit() const;
  // What lowers a step's memory, for an out-of-memory error's line.
  std::string stepMemoryAdvice() const;
  // Milliseconds since `start`, after the device finished its work when profiling on a GPU.
  double phaseMs(Clock::time_point start) const;
  // The final evaluation: every split's pass (collective), then rank 0 reports and writes
  // evaluation.json; returns the test split's result, if any.
  std::optional<EvalResult> writeEvaluation(const EvalPass& validation);
  // Rank 0, at the end: the profile, the output files and their upload.
  void writeOutputs(const EvalPass& validation, const std::optional<EvalResult>& test,
                    double wall_seconds);
  RunRecord record() const;  // what the output files say about this run

  config::JobConfig config_;
  DistContext& dist_;
  std::string config_path_, run_name_, output_dir_, model_dir_;
  DataDigest data_digest_;    // the input files' SHA-256: lineage, fingerprint, run name
  std::string resumed_from_;  // the checkpoint the run started from; empty: none
  TrainEvalSplit data_;
  std::shared_ptr<Model> model_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  Precision precision_ = Precision::kFp32;
  torch::Device device_ = torch::kCPU;
  DeviceReport device_report_;
  std::unique_ptr<LossScaler> scaler_;  // active for fp16 only
  std::unique_ptr<Reducer> reducer_;
  std::unique_ptr<GraphedStep> graphed_;   // train.cuda_graph: the step, captured
  std::unique_ptr<GradClipper> clipper_;   // optimizer.max_grad_norm > 0
  std::unique_ptr<TrainBatches> batches_;  // this rank's slice of each step, for this world
  std::unique_ptr<CheckpointManager> checkpoints_;  // null: checkpoints off
  std::unique_ptr<Preemption> preemption_;
  std::unique_ptr<ProfileTrace> trace_;  // rank 0, train.profile_trace > 0
  std::unique_ptr<RunHistory> history_;  // rank 0: from run()'s start or a regroup
  bool save_checkpoints_ = false;
  int64_t total_steps_ = 0;
  int64_t start_step_ = 0;  // > 0 after a resume
  int64_t completed_ = -1;  // steps the state in memory holds; -1: none yet
  int64_t consumed_ = 0;    // samples those steps consumed: the sample stream's position
  bool in_step_ = false;    // inside trainStep(completed_): a failure loses that step
  Clock::time_point run_start_, window_start_;
  int64_t window_steps_ = 0;
  int64_t window_skipped_from_ = 0;  // the loss scaler's skipped steps when the window began
  double last_loss_ = 0;

  std::vector<double> step_ms_;  // wall time of every step, for the median
  StepPhases phases_;            // the current step's split (trainStep fills it)
  StepProfile profile_;          // every step's split: the time_split line and profile.json
  torch::Tensor window_loss_;    // () float64 on the device: this rank's loss summed over the
                                 // steps of the current log window
};

}  // namespace trainrun
