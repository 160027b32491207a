// The training loop: forward, backward with overlapped all-reduce, step, log, evaluate.
#include "train/trainer.h"

#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "amp/autocast.h"
#include "amp/loss_scaler.h"
#include "checkpoint/checkpoint_manager.h"
#include "core/error.h"
#include "core/logging.h"
#include "data/token_corpus.h"
#include "ddp/reducer.h"
#include "distributed/init.h"
#include "metrics/metrics.h"
#include "models/attention_backend.h"
#include "models/model.h"
#include "models/torchscript_model.h"
#include "pipeline/build_info.h"
#include "preemption/preemption.h"
#include "train/checkpoint_setup.h"
#include "train/divergence.h"
#include "train/evaluator.h"
#include "train/fault_freeze.h"
#include "train/fused_adamw.h"
#include "train/grad_clip.h"
#include "train/graphed_step.h"
#include "train/lr_schedule.h"
#include "train/node_fetch.h"
#include "train/objective.h"
#include "train/out_of_memory.h"
#include "train/profile_trace.h"
#include "train/run_outputs.h"
#include "train/run_report.h"
#include "train/same_job.h"
#include "train/state_sync.h"
#include "train/train_batches.h"

namespace trainrun {
namespace {

// Re-formings of an elastic group in a row without a completed step before the rank gives up.
constexpr int kMaxRecoveryAttempts = 3;
// train.cuda_graph: eager steps before the capture (cuBLAS, autograd and optimizer state warm).
constexpr int kGraphWarmupSteps = 3;

}  // namespace

Trainer::Trainer(config::JobConfig config, std::string config_path, DistContext& dist)
    : config_(std::move(config)), dist_(dist), config_path_(std::move(config_path)) {
  checkGraphedStep(config_, dist_.device, dist_.world_size, dist_.elastic != nullptr);
  // The digest names unnamed runs and keeps a checkpoint of other data from being resumed:
  // token shards are named by their manifest (listed now, no token read); other input files
  // are hashed by every rank (local on each node).
  const bool streamed = config_.data().name() == "tokens";
  if (streamed) loadData();
  data_digest_ =
      streamed ? digestTokenCorpus(config_, data_) : digestInputData(config::dataFiles(config_));
  run_name_ = config::runName(config_, config_path_, data_digest_.sha256);
  // Before anything keyed by the run's name: a node with other flags or data fails here.
  const std::string build = std::string(trainrunVersion()) + " (git " + trainrunGitRevision() + ")";
  checkSameJob(dist_, describeJob(build, run_name_, config_, data_digest_));
  output_dir_ = config_.output().has_dir() ? config_.output().dir() : "runs/" + run_name_;
  model_dir_ = config::modelDir(config_, output_dir_);
  openCheckpoints();
  torch::manual_seed(static_cast<uint64_t>(config_.train().seed()));
  choosePrecision();
  selectAttentionBackend(config_.model().attention(), device_, precision_);
  if (!streamed) loadData();
  buildModel();
  logStart();
  preemption_ =
      std::make_unique<Preemption>(dist_, save_checkpoints_ ? checkpoints_.get() : nullptr);
}

void Trainer::choosePrecision() {
  precision_ = parsePrecision(config_.precision());
  device_ = dist_.device;
  if (precision_ == Precision::kFp16 && !device_.is_cuda())
    throw ConfigError(
        "precision: fp16 needs a CUDA device (LibTorch sees none); on CPU use "
        "precision: bf16 or fp32");
  device_report_ = describeDevice(device_, precision_);
  LossScalerOptions so;
  so.enabled = needsLossScaling(precision_);
  so.init_scale = config_.amp().init_scale();
  so.growth_factor = config_.amp().growth_factor();
  so.backoff_factor = config_.amp().backoff_factor();
  so.growth_interval = config_.amp().growth_interval();
  so.sync_timeout = dist_.timeout;
  scaler_ = std::make_unique<LossScaler>(so);
}

void Trainer::loadData() {
  // Stays on the host; trainStep copies each batch.
  data_ = loadDataset(config_, [this](const std::function<void()>& fetch) {
    fetchOnNodeLeaderFirst(dist_, fetch);
  });
  batches_ =
      std::make_unique<TrainBatches>(config_, data_, dist_.device, dist_.rank, dist_.world_size);
  const auto& t = config_.train();
  total_steps_ = t.steps() > 0 ? t.steps() : t.epochs() * batches_->stepsPerEpoch();
}

void Trainer::buildModel() {
  InputTransform transform;
  if (data_.table) {
    transform.mean = data_.table->mean;
    transform.std = data_.table->std;
    transform.classes = data_.table->classes;
    transform.regression = data_.train.task == Task::kRegression;
  }
  model_ = makeModel(config_, data_.train.features.size(1), data_.train.num_classes, transform);
  model_->to(device_);  // replicas are made equal by syncState(), when the run starts
  // A module that does not fit the data: one line now, not an error in the first step.
  if (auto* ts = dynamic_cast<TorchScriptModel*>(model_.get()))
    ts->checkOutput(data_.train.features[0], data_.train.num_classes, data_.train.labels.dim() > 1);
  ReducerOptions ro;
  ro.first_bucket_mb = config_.dist().first_bucket_mb();
  ro.bucket_cap_mb = config_.dist().bucket_cap_mb();
  if (config_.dist().compression() == "fp16") ro.wire_type = torch::kHalf;
  if (config_.dist().compression() == "bf16") ro.wire_type = torch::kBFloat16;
  reducer_ = std::make_unique<Reducer>(model_->parameters(), dist_.comm.get(), ro);
  optimizer_ = makeOptimizer(config_.optimizer(), model_->parameters());
  if (config_.optimizer().max_grad_norm() > 0)
    clipper_ = std::make_unique<GradClipper>(config_.optimizer().max_grad_norm(), device_);
  window_loss_ = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  if (config_.train().cuda_graph())
    graphed_ = std::make_unique<GraphedStep>(
        GraphedStepParts{
            model_->parameters(), *reducer_, dynamic_cast<FusedAdamW&>(*optimizer_), *scaler_,
            clipper_.get(),
            [this](const torch::Tensor& x, const torch::Tensor& y) { return microLoss(x, y); },
            window_loss_},
        device_, kGraphWarmupSteps);
}

EvalPass Trainer::evaluatePass(const Dataset& data) {
  return evaluateSplit(*model_, data, precision_, device_, dist_);
}

void Trainer::logStart() const {
  if (dist_.rank != 0) return;
  int64_t n_params = 0;
  for (auto& p : model_->parameters()) n_params += p.numel();
  logRunStart(record(), config_, dist_.comm->backendName(), n_params,
              int64_t(reducer_->buckets().size()), data_);
}

Trainer::~Trainer() = default;

void Trainer::openCheckpoints() {
  save_checkpoints_ = !config::checkpointUri(config_).empty();
  checkpoints_ = trainrun::openCheckpoints(
      config_, dist_, run_name_, data_digest_.sha256,
      data_.corpus ? manifestToText(data_.corpus->manifest()) : std::string());
  probeOutputs(config_, dist_.rank, output_dir_);
}

void Trainer::setUpCheckpoints() {
  if (!checkpoints_ || config_.resume() == "never") return;
  const std::optional<Resumed> resumed =
      resumeFromCheckpoint(*checkpoints_, config_, dist_.rank, run_name_, replica(), data_);
  if (!resumed) return;
  resumed_from_ = resumed->where;
  start_step_ = resumed->step;
  consumed_ = resumed->samples;
}

void Trainer::openHistoryOnRank0() {
  // A resumed or re-formed run keeps the history up to the step it goes on from.
  if (dist_.rank == 0 && !history_)
    history_ = std::make_unique<RunHistory>(output_dir_, config_.output().tensorboard_dir(),
                                            completed_, total_steps_);
}

void Trainer::openProfileTrace() {
  const int64_t steps = config_.train().profile_trace();
  if (dist_.rank != 0 || steps <= 0) return;
  // After the first log window (warm-up: allocator, cuBLAS plans), or half the run if sooner.
  const int64_t start =
      std::max(completed_, std::min(config_.train().log_every(), total_steps_ / 2));
  trace_ = std::make_unique<ProfileTrace>(start, std::min(steps, total_steps_ - start), output_dir_,
                                          device_.is_cuda());
}

Replica Trainer::replica() { return Replica{*model_, *optimizer_, *scaler_}; }

int Trainer::syncState() {
  const NewestState newest = findNewestState(*dist_.comm, completed_);
  if (newest.steps < 0) {  // no rank holds state: the run starts, from the checkpoint if any
    setUpCheckpoints();
    broadcastInitialState(*dist_.comm, *model_);
    completed_ = start_step_;
    return 0;
  }
  if (!newest.all_equal)
    transferState(*dist_.comm, newest.source, newest.steps, completed_, replica(), consumed_);
  completed_ = newest.steps;
  return newest.source;
}

void Trainer::recover(const std::string& why) {
  preemption_->leaveIfNoticed(why);  // a preempted node leaves rather than rejoin
  const Clock::time_point begin = Clock::now();
  // The step in flight (if the failure hit one) is the work lost: it is done again.
  const int64_t in_flight = in_step_ ? completed_ : -1;
  in_step_ = false;
  log::warn("rank " + std::to_string(dist_.rank) + ": " + why +
            "; re-forming the group (elastic recovery)");
  reducer_->setCommunicator(nullptr);
  if (checkpoints_) checkpoints_->abandon();  // a save may wait for a lost rank's shard
  rejoinGroup(dist_, why);
  reducer_->setCommunicator(dist_.comm.get());
  batches_->regroup(dist_.rank, dist_.world_size);  // nodes may have left or joined
  if (checkpoints_) checkpoints_->regroup(dist_.rank, dist_.world_size);
  const int source = syncState();
  openHistoryOnRank0();  // a survivor may be rank 0 now (the old rank 0's node was lost)
  window_loss_.zero_();
  window_steps_ = 0;
  window_skipped_from_ = scaler_->skippedSteps();
  window_start_ = Clock::now();
  // The rank whose state everyone took speaks for the group (rank 0 may be a new process).
  if (dist_.rank == source) reportRecovery(dist_, begin, in_flight, completed_);
}

CheckpointState Trainer::snapshot(int64_t steps_done) {
  if (graphed_) graphed_->publish();  // the scaler's and AdamW's counts, from the device
  checkParamsFinite(model_->named_parameters(), steps_done);  // never save a diverged run
  return snapshotState(replica(), *dist_.comm, position(steps_done));
}

void Trainer::saveCheckpoint(int64_t steps_done) {
  const double stall = checkpoints_->save(steps_done, snapshot(steps_done));
  if (dist_.rank == 0)
    log::out(
        formatLogLine({{"checkpoint_step", steps_done},
                       {"stall_ms", stall * 1e3},
                       {"async", std::string(config_.checkpoint().async() ? "true" : "false")}}));
}

void Trainer::trainStep(int64_t step) {
  const Clock::time_point step_start = Clock::now();
  phases_ = StepPhases{};
  const double lr = learningRate(config_, step, total_steps_);
  for (auto& group : optimizer_->param_groups())  // graphed: the step line's lr
    group.options().set_lr(lr);
  if (graphed_) {
    std::vector<MicroBatch> micro;
    for (int64_t m = 0; m < config_.train().grad_accum_steps(); ++m)
      micro.push_back(batches_->micro(step, m, consumed_));
    graphed_->run(micro, lr);
    phases_.step_ms = phaseMs(step_start);
    return;
  }
  reducer_->zeroGrad();
  const Clock::time_point backward_start = forwardBackward(step);
  Clock::time_point t = Clock::now();
  reducer_->finalizeBackward();
  // Never step on gradients a failed collective left half-reduced. CPU backends fail in
  // wait() itself; a GPU communicator records failures its watchdog saw. fp16 reads found-inf
  // back below, so there the check follows a device sync; without one (bf16/fp32) it catches
  // what the watchdog has seen so far, and the syncs at the log window and the checkpoint
  // snapshot catch the rest before anything is reported or saved.
  dist_.comm->throwIfFailed();
  phases_.comm_ms = phaseMs(t);
  t = Clock::now();
  optimizerStep();
  phases_.optimizer_ms = phaseMs(t);
  phases_.step_ms = phaseMs(step_start);
  if (!keepsTimeSplit()) return;
  std::vector<double> ready_ms;  // each gradient's hook after the last backward began: profile.json
  if (config_.train().profile())
    for (const Clock::time_point& r : reducer_->lastGradReady())
      ready_ms.push_back(
          std::max(0.0, std::chrono::duration<double, std::milli>(r - backward_start).count()));
  profile_.add(phases_, std::move(ready_ms));
}

Clock::time_point Trainer::forwardBackward(int64_t step) {
  const int64_t accum = config_.train().grad_accum_steps();
  Clock::time_point backward_start;
  for (int64_t micro = 0; micro < accum; ++micro) {
    Clock::time_point t = Clock::now();
    const auto [x, y] = batches_->micro(step, micro, consumed_);  // (b, ...) on the device
    phases_.data_ms += phaseMs(t);
    // Only the last micro-step communicates; earlier ones accumulate locally.
    reducer_->prepareForBackward(/*sync=*/micro + 1 == accum);
    t = Clock::now();
    const torch::Tensor loss = microLoss(x, y);
    phases_.forward_ms += phaseMs(t);
    backward_start = Clock::now();
    scaler_->scale(loss).backward();
    window_loss_.add_(loss.detach());  // on the device: no host sync per micro-step
    phases_.backward_ms += phaseMs(backward_start);
  }
  return backward_start;
}

torch::Tensor Trainer::microLoss(const torch::Tensor& x, const torch::Tensor& y) {
  AutocastGuard autocast(precision_, device_.type());
  // weight() is 1 unless an elastic job's world size does not divide the micro-batch.
  return lossOf(*model_, x, y, data_.train.task, config_.model().fused_loss()) *
         batches_->weight() / double(config_.train().grad_accum_steps());
}

RunPosition Trainer::position(int64_t steps_done) const {
  return RunPosition{steps_done, consumed_, batches_->stepsPerEpoch(),
                     config_.train().global_batch_size()};
}

void Trainer::optimizerStep() {
  // Unscale and clip after the all-reduce: one pass each over the averaged gradients. They
  // are identical on every rank (an inf or NaN from any rank propagates through the sum), so
  // every rank reaches the same found-inf and the same norm without another collective.
  std::vector<torch::Tensor> grads;
  if (scaler_->enabled() || clipper_)
    for (auto& p : model_->parameters()) grads.push_back(p.grad());
  if (!scaler_->enabled()) {
    if (clipper_) clipper_->clip(grads);
    optimizer_->step();
    return;
  }
  const bool found_inf = scaler_->unscaleAndCheck(grads);
  dist_.comm->throwIfFailed();
  if (clipper_) clipper_->clip(grads);  // as PyTorch's recipe: unscale_, clip, step
  if (!found_inf) optimizer_->step();
  scaler_->update(found_inf);
}

std::string Trainer::stepMemoryAdvice() const {
  const auto& t = config_.train();
  const int64_t per_rank =
      std::max<int64_t>(1, t.global_batch_size() / (dist_.world_size * t.grad_accum_steps()));
  std::string advice = "each rank forwards about " + std::to_string(per_rank) +
                       " samples at a time: raise train.grad_accum_steps (now " +
                       std::to_string(t.grad_accum_steps()) +
                       ") to forward fewer with the same global batch, or lower "
                       "train.global_batch_size";
  if (device_.is_cuda() && precision_ == Precision::kFp32) advice += ", or use precision: bf16";
  return advice;
}

bool Trainer::keepsTimeSplit() const { return !device_.is_cuda() || config_.train().profile(); }

double Trainer::phaseMs(Clock::time_point start) const {
  if (config_.train().profile() && device_.is_cuda()) torch::cuda::synchronize();
  return secondsSince(start) * 1e3;
}

double Trainer::readWindowLoss(int64_t window_steps) {
  if (graphed_) graphed_->publish();  // the step line's loss scale and skipped steps
  torch::Tensor loss = window_loss_.to(torch::kCPU) / double(window_steps);  // the host sync
  window_loss_.zero_();
  dist_.comm->throwIfFailed();  // the window's collectives all finished
  allreduceSum(dist_, loss);
  return loss.item<double>() / dist_.world_size;
}

void Trainer::run() {
  run_start_ = Clock::now();
  window_start_ = run_start_;
  step_ms_.reserve(static_cast<size_t>(total_steps_));
  syncState();
  window_skipped_from_ = scaler_->skippedSteps();  // a resumed run's count
  openHistoryOnRank0();
  openProfileTrace();
  // Elastic jobs: the group's failure to recover from ("" while healthy). A failure during the
  // re-forming itself (a peer lost mid-recovery, a newer plan) re-forms again, a few times.
  std::string failure;
  int attempts = 0;  // recoveries begun since the last completed step
  while (completed_ < total_steps_) {
    try {
      if (!failure.empty()) {
        if (++attempts > kMaxRecoveryAttempts) throw CommError(failure);
        recover(failure);
        failure.clear();
      }
      if (dist_.elastic && dist_.elastic->ended())
        throw CommError("generation " + std::to_string(dist_.elastic->generation()) + " ended");
      runStep(completed_);
      attempts = 0;
    } catch (const CommError& e) {
      if (!dist_.elastic || attempts > kMaxRecoveryAttempts) throw;
      failure = e.what();
    } catch (const TimeoutError& e) {
      if (!dist_.elastic || attempts > kMaxRecoveryAttempts) throw;
      failure = e.what();
    }
  }
  if (checkpoints_) checkpoints_->wait();  // the last checkpoint is committed before outputs
  const double wall = secondsSince(run_start_);
  const EvalPass final_eval = evaluatePass(data_.eval);
  if (dist_.rank == 0) history_->report(total_steps_, evalFields(final_eval.summary(), "eval_"));
  const std::optional<EvalResult> test = writeEvaluation(final_eval);  // a collective pass
  if (dist_.rank == 0) writeOutputs(final_eval, test, wall);
}

void Trainer::runStep(int64_t step) {
  const auto& t = config_.train();
  const int64_t every = config_.checkpoint().every_steps();
  if (checkpoints_) checkpoints_->poll();  // a failed background save fails the run here
  dist_.comm->setStep(step);               // named in collective-timeout errors
  freezeIfInjected(step);                  // tests only (TRAINRUN_FAULT_FREEZE)
  in_step_ = true;
  if (trace_) trace_->beforeStep(step);
  try {
    trainStep(step);
  } catch (const c10::Error& e) {
    throwIfOutOfMemory(e, "step " + std::to_string(step + 1), stepMemoryAdvice());
    throw;
  }
  if (trace_) trace_->afterStep(step);
  completed_ = step + 1;  // the optimizer stepped: the state in memory is step + 1's
  consumed_ += t.global_batch_size();
  in_step_ = false;
  step_ms_.push_back(phases_.step_ms);
  ++window_steps_;
  const bool last = step + 1 == total_steps_;
  if ((step + 1) % t.log_every() == 0 || last) {
    last_loss_ = readWindowLoss(window_steps_);  // the same on every rank: all stop together
    const double seconds = secondsSince(window_start_);
    const double samples_per_sec = double(window_steps_ * t.global_batch_size()) / seconds;
    if (dist_.rank == 0) reportWindow(step, samples_per_sec, seconds);
    const int64_t first = step + 2 - window_steps_;
    if (scaler_->enabled())
      checkLossScale(scaler_->scaleValue(), scaler_->skippedSteps() - window_skipped_from_, first,
                     step + 1);
    else
      checkLossFinite(last_loss_, first, step + 1);
    window_skipped_from_ = scaler_->skippedSteps();
    window_steps_ = 0;
    window_start_ = Clock::now();
  }
  if (save_checkpoints_ && (last || (every > 0 && (step + 1) % every == 0)))
    saveCheckpoint(step + 1);
  if (t.eval_every() > 0 && (step + 1) % t.eval_every() == 0 && !last) {
    EvalResult e = evaluatePass(data_.eval).summary();
    if (dist_.rank == 0) history_->report(step + 1, evalFields(e, "eval_"));
  }
  if (preemption_->stopAfter(step + 1) && !last)  // SIGTERM or a spot notice: throws Preempted
    preemption_->leave(step + 1, [&] { return snapshot(step + 1); });
}

void Trainer::reportWindow(int64_t step, double samples_per_sec, double seconds) {
  // The rest of the run at this process's pace so far (evaluations and saves included).
  const double per_step = secondsSince(run_start_) / double(step + 1 - start_step_);
  Metrics line{{"epoch", step / batches_->stepsPerEpoch()},
               {"train_loss", last_loss_},
               {"lr", optimizer_->param_groups()[0].options().get_lr()},
               {"samples_per_sec", samples_per_sec},
               {"step_ms", seconds * 1e3 / double(window_steps_)},
               {"eta_s", per_step * double(total_steps_ - step - 1)}};
  addThroughput(line, model_->flopsPerSample(), samples_per_sec, dist_.world_size,
                device_report_.peak_tflops);
  // The norm of the window's last step before clipping (readWindowLoss has synced).
  if (clipper_) line.emplace_back("grad_norm", clipper_->lastNorm().item<double>());
  if (scaler_->enabled()) {
    line.emplace_back("loss_scale", double(scaler_->scaleValue()));
    line.emplace_back("skipped_steps", scaler_->skippedSteps());
  }
  if (dist_.elastic) line.emplace_back("world_size", int64_t{dist_.world_size});
  history_->report(step + 1, line);
}

std::optional<EvalResult> Trainer::writeEvaluation(const EvalPass& validation) {
  std::optional<EvalResult> test_result;
  std::vector<EvaluatedSplit> splits;
  if (dist_.rank == 0) splits.push_back(evaluatedSplit("validation", data_.eval, validation));
  if (data_.test.size() > 0) {
    const EvalPass test = evaluatePass(data_.test);
    if (dist_.rank == 0) {
      splits.push_back(evaluatedSplit("test", data_.test, test));
      test_result = test.summary();
      history_->report(total_steps_, evalFields(*test_result, "test_"));
    }
  }
  if (dist_.rank == 0) trainrun::writeEvaluation(record(), config_, data_, splits);
  return test_result;
}

void Trainer::writeOutputs(const EvalPass& validation, const std::optional<EvalResult>& test,
                           double wall_seconds) {
  if (keepsTimeSplit())
    reportProfile(profile_, config_, {model_->parameters(), dist_.world_size, device_},
                  output_dir_);
  const RunResult result{validation.summary(), test, last_loss_, wall_seconds, step_ms_};
  trainrun::writeOutputs(record(), config_, *model_, result, dist_);
  uploadOutputs(config_, output_dir_, model_dir_);  // last: after every file of the run
}

RunRecord Trainer::record() const {
  RunRecord r;
  r.run_name = run_name_;
  r.config_path = config_path_;
  r.output_dir = output_dir_;
  r.model_dir = model_dir_;
  r.resumed_from = resumed_from_;
  r.data = data_digest_;
  r.world_size = dist_.world_size;
  r.total_steps = total_steps_;
  r.start_step = start_step_;
  r.precision = precision_;
  r.device = device_;
  r.device_report = device_report_;
  return r;
}

}  // namespace trainrun
