// The training loop: forward, backward with overlapped all-reduce, step, log, evaluate.
#include "train/trainer.h"

#include <torch/cuda.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "amp/autocast.h"
#include "core/clock.h"
#include "core/digest.h"
#include "core/error.h"
#include "core/file.h"
#include "core/logging.h"
#include "models/torchscript_model.h"
#include "pipeline/evaluation.h"
#include "pipeline/lineage.h"
#include "pipeline/model_card.h"
#include "pipeline/output_upload.h"
#include "storage/local/local_storage.h"
#include "storage/storage_probe.h"
#include "store/generation.h"
#include "store/store_keys.h"
#include "train/fault_freeze.h"
#include "train/fused_adamw.h"
#include "train/lr_schedule.h"
#include "train/train_state.h"

namespace trainrun {
namespace {

std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const config::OptimizerConfig& o,
                                                       std::vector<torch::Tensor> params) {
  if (o.name() == "adamw") {
    return std::make_unique<FusedAdamW>(params, torch::optim::AdamWOptions(o.lr())
                                                    .betas({o.beta1(), o.beta2()})
                                                    .eps(o.eps())
                                                    .weight_decay(o.weight_decay()));
  }
  return std::make_unique<torch::optim::SGD>(
      params,
      torch::optim::SGDOptions(o.lr()).momentum(o.momentum()).weight_decay(o.weight_decay()));
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// Mean cross-entropy of (B, ..., C) logits against (B, ...) targets, computed in fp32;
// regression: mean squared error of (B, 1) outputs against (B,) float targets.
torch::Tensor lossOf(const torch::Tensor& logits, const torch::Tensor& y, Task task) {
  if (task == Task::kRegression)
    return torch::mse_loss(logits.reshape({-1}).to(torch::kFloat), y.reshape({-1}));
  return torch::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}).to(torch::kFloat),
                                   y.reshape({-1}));
}

}  // namespace

Trainer::Trainer(config::JobConfig config, std::string config_path, DistContext& dist)
    : config_(std::move(config)), dist_(dist), config_path_(std::move(config_path)) {
  // Every rank hashes the input files (local on each node); the digest names unnamed runs and
  // keeps a checkpoint of other data from being resumed.
  data_digest_ = digestInputData(config::dataFiles(config_));
  run_name_ = config::runName(config_, config_path_, data_digest_.sha256);
  output_dir_ = config_.output().has_dir() ? config_.output().dir() : "runs/" + run_name_;
  model_dir_ = config::modelDir(config_, output_dir_);
  openCheckpoints();  // first: storage that cannot work fails in seconds, not at the first save
  torch::manual_seed(static_cast<uint64_t>(config_.train().seed()));
  choosePrecision();
  loadData();
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

void Trainer::fetchOnNodeLeaderFirst(const std::function<void()>& fetch) {
  if (!dist_.store || dist_.local_world_size == 1) {
    fetch();
    return;
  }
  // Ranks of a node are numbered consecutively: the node's first rank names it.
  const std::string key = tableFetchedKey(dist_.rank - dist_.local_rank);
  if (dist_.local_rank == 0) {
    try {
      fetch();
    } catch (const std::exception& e) {
      dist_.store->set(key, std::string("failed: ") + e.what());
      throw;
    }
    dist_.store->set(key, "ok");
    return;
  }
  dist_.store->wait({key});  // bounded by dist.timeout_s
  const std::string status = dist_.store->get(key);
  if (status != "ok")
    throw ConfigError("local rank 0 could not fetch the data (" + status.substr(8) + ")");
  fetch();  // every object is in the cache now: listing only
}

void Trainer::loadData() {
  const auto& t = config_.train();
  // Stays on the host; trainStep copies each batch.
  data_ = loadDataset(
      config_, [this](const std::function<void()>& fetch) { fetchOnNodeLeaderFirst(fetch); });
  sampler_ = std::make_unique<DistributedSampler>(
      data_.train.size(), t.global_batch_size(), t.grad_accum_steps(), dist_.rank, dist_.world_size,
      static_cast<uint64_t>(t.seed()));
  total_steps_ = t.steps() > 0 ? t.steps() : t.epochs() * sampler_->stepsPerEpoch();
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
  window_loss_ = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
}

void Trainer::logStart() const {
  if (dist_.rank != 0) return;
  int64_t n_params = 0;
  for (auto& p : model_->parameters()) n_params += p.numel();
  log::out(formatLogLine({{"run", run_name_},
                          {"world_size", int64_t{dist_.world_size}},
                          {"backend", std::string(dist_.comm ? dist_.comm->backendName() : "none")},
                          {"model", config_.model().name()},
                          {"device", device_.str()},
                          {"precision", std::string(precisionName(precision_))},
                          {"params", n_params},
                          {"buckets", int64_t(reducer_->buckets().size())},
                          {"train_samples", data_.train.size()},
                          {"steps", total_steps_},
                          {"output", output_dir_}}));
  if (data_.table) {
    const TableInfo& table = *data_.table;
    const bool regression = data_.train.task == Task::kRegression;
    std::string reason = table.task_reason;
    for (char& c : reason)
      if (c == ' ') c = '_';
    log::out(
        formatLogLine({{"data", std::string("table")},
                       {"task", std::string(regression ? "regression" : "classification")},
                       {"task_from", reason},
                       {"label", table.label},
                       {"features", int64_t(table.feature_names.size())},
                       {"classes", regression ? int64_t{0} : data_.train.num_classes},
                       {"train_rows", data_.train.size()},
                       {"eval_rows", data_.eval.size()},
                       {"test_rows", data_.test.size()},
                       {"files", int64_t(table.train_files.size() + table.validation_files.size() +
                                         table.test_files.size())}}));
    for (const std::string& summary : table.fetch_summaries) log::out("fetched " + summary);
  }
  // Spaces would split a key=value field: "NVIDIA H100 80GB HBM3" -> NVIDIA_H100_80GB_HBM3.
  auto field = [](std::string v) {
    for (char& c : v)
      if (c == ' ') c = '_';
    return v.empty() ? std::string("none") : v;
  };
  log::out(formatLogLine({{"device_name", field(device_report_.name)},
                          {"cuda", field(device_report_.cuda)},
                          {"nccl", field(device_report_.nccl)},
                          {"cudnn", field(device_report_.cudnn)},
                          {"precision", std::string(precisionName(precision_))},
                          {"peak_tflops", device_report_.peak_tflops}}));
}

Trainer::~Trainer() = default;

void Trainer::openCheckpoints() {
  const auto& c = config_.checkpoint();
  std::string uri = config::checkpointUri(config_);
  const std::string& resume = config_.resume();
  save_checkpoints_ = !uri.empty();
  if (!uri.empty() || (resume != "auto" && resume != "never")) {
    CheckpointOptions options;
    options.uri = uri.empty() ? resume : uri;  // resume-only runs read but never write
    options.run_name = run_name_;
    options.keep_last = c.keep_last();
    options.async = c.async();
    options.force_resume = c.force_resume();
    options.s3_endpoint = c.s3_endpoint();
    options.max_consecutive_failures = c.max_consecutive_failures();
    checkpoints_ = std::make_unique<CheckpointManager>(
        options, dist_.rank, dist_.world_size, dist_.store.get(),
        stateFingerprint(config_, data_digest_.sha256));
    if (save_checkpoints_) checkpoints_->probe();
  }
  // Rank 0 writes the outputs at the end of the run: prove now that it can.
  if (dist_.rank == 0) {
    auto output = makeLocalStorage(output_dir_);
    const std::string failure = probeStorage(*output, ".probe-rank0-" + std::to_string(::getpid()));
    if (!failure.empty()) throw ConfigError("output.dir " + output_dir_ + ": " + failure);
    if (!config_.output().uri().empty())  // uploaded at the end: prove now that it can be
      pipeline::probeOutputUri(config_.output().uri(), config_.checkpoint().s3_endpoint());
  }
}

void Trainer::setUpCheckpoints() {
  const std::string& resume = config_.resume();
  if (!checkpoints_ || resume == "never") return;
  std::optional<LoadedCheckpoint> ckpt;
  try {
    ckpt = checkpoints_->restore(resume);
  } catch (const DataChangedError& e) {
    if (resume != "auto") throw;  // a named checkpoint of other data is the user's mistake
    // The same command on new data: a new run, in a folder of its own, so the old run's
    // checkpoints stay and a re-run on this data resumes this one. Every rank read the same
    // manifest, so every rank takes this branch.
    const std::string fresh = run_name_ + "-data-" + e.current().substr(0, 8);
    if (dist_.rank == 0)
      log::out("data changed since run " + run_name_ + "'s newest checkpoint (data.sha256 " +
               e.saved().substr(0, 12) + " -> " + e.current().substr(0, 12) +
               "): starting fresh as run " + fresh + "; the old run's checkpoints stay");
    run_name_ = fresh;
    checkpoints_->switchRun(fresh);
    ckpt = checkpoints_->restore(resume);
  }
  if (!ckpt) return;
  resumed_from_ = ckpt->where;
  restoreState(*ckpt, *model_, *optimizer_, *scaler_);
  checkRestoredTable(ckpt->where);
  start_step_ = ckpt->counters.at("step");
  if (dist_.rank == 0)
    log::out(formatLogLine({{"resumed", ckpt->where},
                            {"step", start_step_},
                            {"saved_world_size", int64_t{ckpt->manifest.world_size()}}}));
}

void Trainer::checkRestoredTable(const std::string& where) {
  if (!data_.table || config_.checkpoint().force_resume()) return;
  // The statistics follow from the data alone: different ones mean different training data.
  const TableInfo& table = *data_.table;
  for (const auto& item : model_->named_buffers()) {
    const torch::Tensor* fresh = item.key() == "input_mean"  ? &table.mean
                                 : item.key() == "input_std" ? &table.std
                                 : item.key() == "classes"   ? &table.classes
                                                             : nullptr;
    if (fresh && !torch::equal(item.value().to(torch::kCPU), *fresh))
      throw ConfigError("checkpoint " + where + " was trained on other data (its " + item.key() +
                        " differs from this data's); start a new run (resume: never, or another "
                        "run.name), or set checkpoint.force_resume: true to keep its statistics");
  }
}

int Trainer::syncState() {
  int64_t newest = completed_;
  int source = dist_.rank;
  bool all_equal = true;
  if (dist_.comm) {
    const auto on = torch::TensorOptions().dtype(torch::kLong).device(dist_.comm->device());
    torch::Tensor mine = torch::full({1}, completed_, on);
    std::vector<torch::Tensor> all;
    for (int r = 0; r < dist_.world_size; ++r) all.push_back(torch::empty({1}, on));
    dist_.comm->allgather(all, mine)->wait();
    for (int r = 0; r < dist_.world_size; ++r) {
      const int64_t done = all[r].item<int64_t>();
      all_equal = all_equal && done == completed_;
      if (done > newest || (done == newest && r < source)) {
        newest = done;
        source = r;
      }
    }
  }
  if (newest < 0) {  // no rank holds state: the run starts, from the checkpoint if any
    setUpCheckpoints();
    std::vector<torch::Tensor> state = model_->parameters();
    for (auto& b : model_->buffers()) state.push_back(b);
    if (dist_.comm) broadcastFromRank0(*dist_.comm, state);
    completed_ = start_step_;
    return 0;
  }
  if (!all_equal) transferState(source, newest);
  completed_ = newest;
  return source;
}

void Trainer::transferState(int source, int64_t newest) {
  torch::Tensor bytes;  // (n,) uint8: the packed state
  std::vector<torch::Tensor> size{torch::zeros({1}, torch::kLong)};
  if (dist_.rank == source) {
    const std::vector<char> packed =
        packState(captureState(*model_, *optimizer_, *scaler_, {{"step", completed_}}));
    bytes =
        torch::from_blob(const_cast<char*>(packed.data()), {int64_t(packed.size())}, torch::kUInt8)
            .clone();
    size[0].fill_(bytes.numel());
  }
  const torch::Device on = dist_.comm->device();
  size[0] = size[0].to(on);
  dist_.comm->broadcast(size, source)->wait();
  const int64_t n = size[0].item<int64_t>();
  std::vector<torch::Tensor> blob{
      bytes.defined() ? bytes.to(on)
                      : torch::empty({n}, torch::TensorOptions().dtype(torch::kUInt8).device(on))};
  dist_.comm->broadcast(blob, source)->wait();
  if (completed_ == newest) return;
  const torch::Tensor host = blob[0].to(torch::kCPU).contiguous();
  const char* data = static_cast<const char*>(host.data_ptr());
  restoreState(unpackState(std::vector<char>(data, data + n)), *model_, *optimizer_, *scaler_);
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
  // Nodes may have left or joined: this rank's place and slice of each batch follow.
  const auto& t = config_.train();
  sampler_ = std::make_unique<DistributedSampler>(
      data_.train.size(), t.global_batch_size(), t.grad_accum_steps(), dist_.rank, dist_.world_size,
      static_cast<uint64_t>(t.seed()));
  if (checkpoints_) checkpoints_->regroup(dist_.rank, dist_.world_size);
  const int source = syncState();
  window_loss_.zero_();
  window_steps_ = 0;
  window_start_ = Clock::now();
  if (dist_.rank != source) return;
  // The rank whose state everyone took speaks for the group (rank 0 may be a new process).
  const double ms = secondsSince(begin) * 1e3;
  // Redone: the step in flight, unless a peer had finished it (then its state was taken).
  const int64_t lost = in_flight >= completed_ ? 1 : 0;
  const int64_t generation = dist_.elastic->generation();
  dist_.store->set(recoveryKey(generation), std::to_string(completed_) + " " +
                                                std::to_string(dist_.world_size) + " " +
                                                std::to_string(lost) + " " + std::to_string(ms));
  log::out(formatLogLine({{"recovered_generation", generation},
                          {"world_size", int64_t{dist_.world_size}},
                          {"step", completed_},
                          {"lost_steps", lost},
                          {"recovery_ms", ms}}));
}

CheckpointState Trainer::snapshotState(int64_t steps_done) {
  const int64_t epoch = steps_done / sampler_->stepsPerEpoch();
  CheckpointState state =
      captureState(*model_, *optimizer_, *scaler_,
                   {{"step", steps_done},
                    {"epoch", epoch},
                    {"step_in_epoch", steps_done % sampler_->stepsPerEpoch()},
                    {"samples", steps_done * config_.train().global_batch_size()}});
  // The snapshot's copy to the host waited for the device: a collective that failed before
  // it is known now. Never save what a failed collective touched.
  if (dist_.comm) dist_.comm->throwIfFailed();
  return state;
}

void Trainer::saveCheckpoint(int64_t steps_done) {
  const double stall = checkpoints_->save(steps_done, snapshotState(steps_done));
  if (dist_.rank == 0)
    log::out(
        formatLogLine({{"checkpoint_step", steps_done},
                       {"stall_ms", stall * 1e3},
                       {"async", std::string(config_.checkpoint().async() ? "true" : "false")}}));
}

void Trainer::trainStep(int64_t step) {
  const int64_t accum = config_.train().grad_accum_steps();
  const int64_t epoch = step / sampler_->stepsPerEpoch();
  const int64_t step_in_epoch = step % sampler_->stepsPerEpoch();
  const Clock::time_point step_start = Clock::now();
  phases_ = StepPhases{};
  optimizer_->param_groups()[0].options().set_lr(learningRate(config_, step, total_steps_));

  reducer_->zeroGrad();
  Clock::time_point backward_start;
  for (int64_t micro = 0; micro < accum; ++micro) {
    Clock::time_point t = Clock::now();
    torch::Tensor idx = sampler_->indices(epoch, step_in_epoch, micro);  // (b,) on the host
    torch::Tensor x = gatherRows(data_.train.features, idx, device_);    // (b, F) or (b, T)
    const Task task = data_.train.task;
    torch::Tensor y =
        gatherRows(data_.train.labels, idx, device_)
            .to(task == Task::kRegression ? torch::kFloat : torch::kLong);  // (b, ...)
    phases_.data_ms += phaseMs(t);
    // Only the last micro-step communicates; earlier ones accumulate locally.
    reducer_->prepareForBackward(/*sync=*/micro + 1 == accum);
    t = Clock::now();
    torch::Tensor loss;
    {
      AutocastGuard autocast(precision_, device_.type());
      // weight() is 1 unless an elastic job's world size does not divide the micro-batch.
      loss = lossOf(model_->forward(x), y, task) * sampler_->weight() / double(accum);
    }
    phases_.forward_ms += phaseMs(t);
    backward_start = Clock::now();
    scaler_->scale(loss).backward();
    window_loss_.add_(loss.detach());  // on the device: no host sync per micro-step
    phases_.backward_ms += phaseMs(backward_start);
  }
  Clock::time_point t = Clock::now();
  reducer_->finalizeBackward();
  // Never step on gradients a failed collective left half-reduced. CPU backends fail in
  // wait() itself; a GPU communicator records failures its watchdog saw. fp16 reads found-inf
  // back below, so there the check follows a device sync; without one (bf16/fp32) it catches
  // what the watchdog has seen so far, and the syncs at the log window and the checkpoint
  // snapshot catch the rest before anything is reported or saved.
  if (dist_.comm) dist_.comm->throwIfFailed();
  phases_.comm_ms = phaseMs(t);
  t = Clock::now();
  // Unscale after the all-reduce: one pass over the averaged gradients. They are identical on
  // every rank (an inf or NaN from any rank propagates through the sum), so every rank reaches
  // the same found-inf without another collective.
  if (scaler_->enabled()) {
    std::vector<torch::Tensor> grads;
    for (auto& p : model_->parameters()) grads.push_back(p.grad());
    const bool found_inf = scaler_->unscaleAndCheck(grads);
    if (dist_.comm) dist_.comm->throwIfFailed();
    if (!found_inf) optimizer_->step();
    scaler_->update(found_inf);
  } else {
    optimizer_->step();
  }
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

bool Trainer::keepsTimeSplit() const { return !device_.is_cuda() || config_.train().profile(); }

double Trainer::phaseMs(Clock::time_point start) const {
  if (config_.train().profile() && device_.is_cuda()) torch::cuda::synchronize();
  return secondsSince(start) * 1e3;
}

void Trainer::writeProfile() const {
  if (!keepsTimeSplit() || profile_.steps() == 0) return;
  NodeProfile p;
  p.phases = profile_.medianPhases();
  log::out("time_split: " + phasesLogFields(p.phases) + " (medians of " +
           std::to_string(profile_.steps()) + " steps)");
  if (!config_.train().profile()) return;
  p.grad_ready_ms = profile_.medianGradReady();
  for (const torch::Tensor& param : model_->parameters()) {
    p.grad_bytes.push_back(param.numel() * static_cast<int64_t>(param.element_size()));
    p.grad_dtype.push_back(static_cast<int>(param.scalar_type()));
  }
  p.grad_ready_ms.resize(p.grad_bytes.size());
  const auto& t = config_.train();
  p.world_size = dist_.world_size;
  p.global_batch_size = t.global_batch_size();
  p.grad_accum_steps = t.grad_accum_steps();
  p.first_bucket_mb = config_.dist().first_bucket_mb();
  p.bucket_cap_mb = config_.dist().bucket_cap_mb();
  p.wire_bytes = config_.dist().compression() == "none" ? 4 : 2;
  p.steps = profile_.steps();
  p.device = device_.str();
  writeNodeProfile(p, output_dir_ + "/profile.json");
}

double Trainer::readWindowLoss(int64_t window_steps) {
  torch::Tensor loss = window_loss_.to(torch::kCPU) / double(window_steps);  // the host sync
  window_loss_.zero_();
  if (dist_.comm) dist_.comm->throwIfFailed();  // the window's collectives all finished
  allreduceSum(dist_, loss);
  return loss.item<double>() / dist_.world_size;
}

void Trainer::run() {
  run_start_ = Clock::now();
  window_start_ = run_start_;
  step_ms_.reserve(static_cast<size_t>(total_steps_));
  syncState();
  if (dist_.rank == 0) openHistory();
  while (completed_ < total_steps_) {
    try {
      if (dist_.elastic && dist_.elastic->ended())
        throw CommError("generation " + std::to_string(dist_.elastic->generation()) + " ended");
      runStep(completed_);
    } catch (const CommError& e) {
      if (!dist_.elastic) throw;
      recover(e.what());
    } catch (const TimeoutError& e) {
      if (!dist_.elastic) throw;
      recover(e.what());
    }
  }
  if (checkpoints_) checkpoints_->wait();  // the last checkpoint is committed before outputs
  const double wall = secondsSince(run_start_);
  const EvalPass final_eval = evaluatePass(data_.eval);
  if (dist_.rank == 0) report(total_steps_, evalFields(final_eval.summary(), "eval_"));
  writeEvaluation(final_eval);  // every rank: a test split's pass is collective
  if (dist_.rank == 0) {
    writeProfile();
    writeOutputs(final_eval, last_loss_, wall);
    uploadOutputs();  // last: after every file of the run is written
  }
}

void Trainer::runStep(int64_t step) {
  const auto& t = config_.train();
  const int64_t every = config_.checkpoint().every_steps();
  if (checkpoints_) checkpoints_->poll();     // a failed background save fails the run here
  if (dist_.comm) dist_.comm->setStep(step);  // named in collective-timeout errors
  freezeIfInjected(step);                     // tests only (TRAINRUN_FAULT_FREEZE)
  in_step_ = true;
  trainStep(step);
  completed_ = step + 1;  // the optimizer stepped: the state in memory is step + 1's
  in_step_ = false;
  step_ms_.push_back(phases_.step_ms);
  ++window_steps_;
  const bool last = step + 1 == total_steps_;
  if ((step + 1) % t.log_every() == 0 || last) {
    last_loss_ = readWindowLoss(window_steps_);
    const double seconds = secondsSince(window_start_);
    const double samples_per_sec = double(window_steps_ * t.global_batch_size()) / seconds;
    if (dist_.rank == 0) {
      // The rest of the run at this process's pace so far (evaluations and saves included).
      const double per_step = secondsSince(run_start_) / double(step + 1 - start_step_);
      Metrics line{{"epoch", step / sampler_->stepsPerEpoch()},
                   {"train_loss", last_loss_},
                   {"lr", optimizer_->param_groups()[0].options().get_lr()},
                   {"samples_per_sec", samples_per_sec},
                   {"step_ms", seconds * 1e3 / double(window_steps_)},
                   {"eta_s", per_step * double(total_steps_ - step - 1)}};
      addThroughput(line, samples_per_sec);
      if (scaler_->enabled()) {
        line.emplace_back("loss_scale", double(scaler_->scaleValue()));
        line.emplace_back("skipped_steps", scaler_->skippedSteps());
      }
      if (dist_.elastic) line.emplace_back("world_size", int64_t{dist_.world_size});
      report(step + 1, line);
    }
    window_steps_ = 0;
    window_start_ = Clock::now();
  }
  if (save_checkpoints_ && (last || (every > 0 && (step + 1) % every == 0)))
    saveCheckpoint(step + 1);
  if (t.eval_every() > 0 && (step + 1) % t.eval_every() == 0 && !last) {
    EvalResult e = evaluatePass(data_.eval).summary();
    if (dist_.rank == 0) report(step + 1, evalFields(e, "eval_"));
  }
  if (preemption_->stopAfter(step + 1) && !last)  // SIGTERM or a spot notice: throws Preempted
    preemption_->leave(step + 1, [&] { return snapshotState(step + 1); });
}

void Trainer::openHistory() {
  std::filesystem::create_directories(output_dir_);
  // A resumed run keeps the history up to its checkpoint's step and repeats the rest.
  history_ = std::make_unique<MetricsHistory>(output_dir_ + "/metrics.jsonl", completed_);
  // output.tensorboard_dir (SageMaker's TensorBoard folder under `trainrun train`), else
  // <output.dir>/tensorboard.
  const std::string tb_dir = config_.output().tensorboard_dir().empty()
                                 ? output_dir_ + "/tensorboard"
                                 : config_.output().tensorboard_dir();
  tensorboard_ = std::make_unique<TensorBoardWriter>(tb_dir);
}

void Trainer::report(int64_t step, const Metrics& values) {
  Metrics line{{"step", std::to_string(step) + "/" + std::to_string(total_steps_)}};
  line.insert(line.end(), values.begin(), values.end());
  log::out(formatLogLine(line));
  Metrics entry{{"step", step}, {"total_steps", total_steps_}};
  entry.insert(entry.end(), values.begin(), values.end());
  entry.emplace_back(
      "wall_time",
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  if (history_) history_->append(entry);
  std::vector<std::pair<std::string, double>> scalars;
  for (const auto& [key, value] : values) {
    if (auto* d = std::get_if<double>(&value)) scalars.emplace_back(key, *d);
    if (auto* i = std::get_if<int64_t>(&value)) scalars.emplace_back(key, double(*i));
  }
  if (tensorboard_) tensorboard_->scalars(step, scalars);
}

void Trainer::addMembership(Metrics& metrics) const {
  // Each re-formed generation's source rank recorded what it cost in the store.
  const int64_t generations = dist_.elastic->generation();
  int64_t changes = 0, lost = 0, min_world = dist_.world_size;
  double worst_ms = 0;
  for (int64_t g = 1; g <= generations; ++g) {
    if (!dist_.store->check({recoveryKey(g)})) continue;  // ended while the ranks gathered
    std::istringstream in(dist_.store->get(recoveryKey(g)));
    int64_t step = 0, world = 0, lost_steps = 0;
    double ms = 0;
    in >> step >> world >> lost_steps >> ms;
    ++changes;
    lost += lost_steps;
    min_world = std::min(min_world, world);
    worst_ms = std::max(worst_ms, ms);
  }
  metrics.emplace_back("membership_changes", changes);
  metrics.emplace_back("lost_steps", lost);
  metrics.emplace_back("recovery_ms_max", worst_ms);
  metrics.emplace_back("world_size_min", min_world);
}

void Trainer::addThroughput(Metrics& line, double samples_per_sec) const {
  // Achieved model FLOPs per rank: the formula's FLOPs (6N + attention for a GPT), not the
  // hardware's, so MFU compares fairly across implementations.
  const double tflops =
      model_->flopsPerSample() * samples_per_sec / double(dist_.world_size) / 1e12;
  line.emplace_back("tflops", tflops);
  if (device_report_.peak_tflops > 0) line.emplace_back("mfu", tflops / device_report_.peak_tflops);
}

void Trainer::writeEvaluation(const EvalPass& validation) {
  std::vector<EvaluatedSplit> splits;
  if (dist_.rank == 0) splits.push_back(evaluatedSplit("validation", data_.eval, validation));
  if (data_.test.size() > 0) {
    const EvalPass test = evaluatePass(data_.test);
    if (dist_.rank == 0) {
      splits.push_back(evaluatedSplit("test", data_.test, test));
      test_result_ = test.summary();
      report(total_steps_, evalFields(*test_result_, "test_"));
    }
  }
  if (dist_.rank != 0) return;
  std::filesystem::create_directories(model_dir_);
  const Json document = evaluationReport(splits);
  writeFileAtomic(output_dir_ + "/evaluation.json", document.dump(2) + "\n");
  ModelCardInfo card;
  card.run = run_name_;
  card.model_name = config_.model().name();
  card.tokens = data_.train.labels.dim() > 1;
  card.input_width = data_.train.features.size(1);
  card.num_classes = data_.train.num_classes;
  card.data_name = config_.data().name();
  card.data = data_digest_;
  card.train_samples = data_.train.size();
  card.validation_samples = data_.eval.size();
  card.test_samples = data_.test.size();
  card.steps = total_steps_;
  card.world_size = dist_.world_size;
  card.global_batch_size = config_.train().global_batch_size();
  card.precision = precisionName(precision_);
  card.optimizer = config_.optimizer().name();
  card.evaluation = document;
  writeFileAtomic(model_dir_ + "/model_card.json", modelCard(card).dump(2) + "\n");
}

void Trainer::writeOutputs(const EvalPass& pass, double train_loss, double wall_seconds) {
  const EvalResult eval = pass.summary();
  const std::optional<EvalResult>& test = test_result_;
  namespace fs = std::filesystem;
  fs::create_directories(model_dir_);
  saveTorchScript(*model_, model_dir_ + "/model.pt");
  writeFileAtomic(model_dir_ + "/config.yaml", config::toYaml(config_));
  const double samples = double((total_steps_ - start_step_) * config_.train().global_batch_size());
  // Throughput and MFU count the training steps only: no start-up, evaluation or final save.
  double train_seconds = 0;
  for (double ms : step_ms_) train_seconds += ms / 1e3;
  if (train_seconds <= 0) train_seconds = wall_seconds;
  Metrics metrics;
  if (eval.regression) {
    metrics = {{"mse", eval.loss}, {"rmse", std::sqrt(eval.loss)}};
  } else {
    metrics = {{"accuracy", eval.accuracy}};
  }
  metrics.emplace_back("loss", eval.loss);
  if (test)
    for (auto& field : evalFields(*test, "test_")) metrics.push_back(field);
  metrics.insert(metrics.end(), {{"train_loss", train_loss},
                                 {"steps", total_steps_},
                                 {"world_size", int64_t{dist_.world_size}},
                                 {"global_batch_size", config_.train().global_batch_size()},
                                 {"samples_per_sec", samples / train_seconds},
                                 {"step_time_ms_median", median(step_ms_)},
                                 {"wall_seconds", wall_seconds},
                                 {"run", run_name_},
                                 {"device", device_report_.name},
                                 {"precision", std::string(precisionName(precision_))}});
  addThroughput(metrics, samples / train_seconds);
  if (dist_.elastic) addMembership(metrics);
  if (device_.is_cuda())
    metrics.emplace_back("peak_memory_mb", double(peakMemoryBytes(device_)) / 1e6);
  writeMetricsJson(metrics, output_dir_ + "/metrics.json");
  writeLineage();
  log::out("wrote " + model_dir_ + "/model.pt, config.yaml, model_card.json; " + output_dir_ +
           "/metrics.json, metrics.jsonl, evaluation.json, lineage.json, tensorboard/");
}

void Trainer::writeLineage() {
  Lineage l;
  l.run = run_name_;
  l.config_path = config_path_;
  if (auto text = readWholeFile(config_path_)) l.config_sha256 = sha256Hex(*text);
  l.resolved_config_sha256 = sha256Hex(config::toYaml(config_));
  l.data = data_digest_;
  l.resumed_from = resumed_from_;
  l.world_size = dist_.world_size;
  l.steps = total_steps_;
  l.device = device_report_.name;
  l.cuda = device_report_.cuda;
  l.cudnn = device_report_.cudnn;
  l.nccl = device_report_.nccl;
  l.model_sha256 = sha256OfFile(model_dir_ + "/model.pt").sha256;
  writeFileAtomic(output_dir_ + "/lineage.json", lineageJson(l).dump(2) + "\n");
}

void Trainer::uploadOutputs() const {
  if (config_.output().uri().empty()) return;
  const std::vector<std::string> keys = pipeline::uploadOutputs(
      config_.output().uri(), config_.checkpoint().s3_endpoint(), output_dir_, model_dir_);
  std::string names;
  for (const std::string& k : keys) names += (names.empty() ? "" : ", ") + k;
  log::out("uploaded " + names + " to " + config_.output().uri());
}

}  // namespace trainrun
