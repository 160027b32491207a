// Trainer: the data-parallel training loop that wires data, model, Reducer and metrics.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "amp/loss_scaler.h"
#include "amp/precision.h"
#include "checkpoint/checkpoint_manager.h"
#include "config/config.h"
#include "data/data_digest.h"
#include "data/dataset.h"
#include "data/sampler.h"
#include "ddp/reducer.h"
#include "distributed/init.h"
#include "metrics/metrics.h"
#include "metrics/step_profile.h"
#include "metrics/tensorboard.h"
#include "models/model.h"
#include "preemption/preemption.h"
#include "train/device_report.h"
#include "train/evaluator.h"

namespace trainrun {

class Trainer {
 public:
  // `config_path` only names the run when neither run.name nor TRAINING_JOB_NAME is set.
  Trainer(config::JobConfig config, std::string config_path, DistContext& dist);
  ~Trainer();

  // Trains for the configured steps, evaluates, and (rank 0) writes the outputs.
  void run();

 private:
  // One pass over `data`, each rank forwarding its 1/N slice; predictions gathered on all.
  EvalPass evaluatePass(const Dataset& data) {
    return evaluateSplit(*model_, data, precision_, device_, dist_);
  }
  // The constructor's steps, in order.
  void openCheckpoints();   // opens checkpoint storage; probes it and output.dir (ConfigError)
  void choosePrecision();   // precision and loss scaling for this device
  void loadData();          // dataset on the host and the world-size invariant sampler
  void buildModel();        // model on the device, replicas made equal, Reducer, optimizer
  void logStart() const;    // rank 0: the run line and the device line
  void setUpCheckpoints();  // resumes from a checkpoint if asked
  // Tables: local rank 0 of each node fetches remote files first, the others after it.
  void fetchOnNodeLeaderFirst(const std::function<void()>& fetch);
  // Tables: the restored standardization must be the one this data gives (ConfigError).
  void checkRestoredTable(const std::string& where);

  // Makes every rank hold the newest state any rank holds: at the start (no rank holds any)
  // the checkpoint's or the seeded initialization, with rank 0's parameters everywhere; after
  // elastic recovery, a healthy peer's whole state (parameters, optimizer, loss scale, RNG,
  // step) for the ranks that are behind or new. Sets completed_.
  // Returns the rank whose state every rank now holds.
  int syncState();
  // Hands `source`'s state to every rank whose completed_ differs from `newest` (broadcast).
  void transferState(int source, int64_t newest);
  // Elastic jobs: the group failed (`why`); re-form it and continue from the newest state.
  void recover(const std::string& why);
  // One step and what follows it (log window, checkpoint, evaluation).
  void runStep(int64_t step);

  // One optimizer step (or a skipped one, on fp16 overflow). Adds this rank's loss to the
  // device-side window sum; nothing is read back to the host here.
  void trainStep(int64_t step);
  // The mean loss of the window's steps over all ranks: the one host read of the window.
  double readWindowLoss(int64_t window_steps);
  void saveCheckpoint(int64_t steps_done);
  CheckpointState snapshotState(int64_t steps_done);  // the state after `steps_done` steps
  void writeOutputs(const EvalPass& eval, double train_loss, double wall_seconds);
  // output.uri: model.tar.gz and the run's JSON files, after writeOutputs (pipeline/).
  void uploadOutputs() const;
  void writeLineage();  // lineage.json, after model.pt (whose digest it holds)
  // Rank 0: the "time_split:" log line and, with train.profile, profile.json.
  void writeProfile() const;
  // The step's split is kept: on CPU (exact without syncs) or with train.profile (synced).
  bool keepsTimeSplit() const;
  // Milliseconds since `start`, after the device finished its work when profiling on a GPU.
  double phaseMs(Clock::time_point start) const;
  // The final evaluation of every split (validation, test if any) as evaluation.json.
  void writeEvaluation(const EvalPass& validation);
  // Rank 0: the log line "step=N/TOTAL <values>", the same values as one metrics.jsonl entry
  // and as TensorBoard scalars at `step`.
  void report(int64_t step, const Metrics& values);
  // Rank 0, once the start step is known: metrics.jsonl and the TensorBoard event file.
  void openHistory();
  // Adds tflops= (model FLOPs per second per rank) and, where the peak is known, mfu=.
  void addThroughput(Metrics& line, double samples_per_sec) const;
  // Elastic jobs: membership_changes, lost_steps, recovery_ms_max, world_size_min.
  void addMembership(Metrics& metrics) const;

  config::JobConfig config_;
  DistContext& dist_;
  std::string config_path_, run_name_, output_dir_, model_dir_;
  DataDigest data_digest_;    // the input files' SHA-256: lineage, fingerprint, run name
  std::string resumed_from_;  // the checkpoint the run started from; empty: none
  std::optional<EvalResult> test_result_;  // the final pass over a test split, for metrics.json
  TrainEvalSplit data_;
  std::shared_ptr<Model> model_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  Precision precision_ = Precision::kFp32;
  torch::Device device_ = torch::kCPU;
  DeviceReport device_report_;
  std::unique_ptr<LossScaler> scaler_;  // active for fp16 only
  std::unique_ptr<Reducer> reducer_;
  std::unique_ptr<DistributedSampler> sampler_;
  std::unique_ptr<CheckpointManager> checkpoints_;  // null: checkpoints off
  std::unique_ptr<Preemption> preemption_;
  std::unique_ptr<MetricsHistory> history_;         // rank 0
  std::unique_ptr<TensorBoardWriter> tensorboard_;  // rank 0
  bool save_checkpoints_ = false;
  int64_t total_steps_ = 0;
  int64_t start_step_ = 0;  // > 0 after a resume
  int64_t completed_ = -1;  // steps the state in memory holds; -1: none yet
  bool in_step_ = false;    // inside trainStep(completed_): a failure loses that step
  Clock::time_point run_start_, window_start_;
  int64_t window_steps_ = 0;
  double last_loss_ = 0;

  std::vector<double> step_ms_;  // wall time of every step, for the median
  StepPhases phases_;            // the current step's split (trainStep fills it)
  StepProfile profile_;          // every step's split: the time_split line and profile.json
  torch::Tensor window_loss_;    // () float64 on the device: this rank's loss summed over the
                                 // steps of the current log window
};

}  // namespace trainrun
