// The training loop: forward, backward with overlapped all-reduce, step, log, evaluate.
#include "train/trainer.h"

#include <algorithm>
#include <filesystem>

#include "core/clock.h"
#include "core/logging.h"
#include "train/lr_schedule.h"

namespace trainrun {
namespace {

std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const config::OptimizerConfig& o,
                                                       std::vector<torch::Tensor> params) {
  if (o.name() == "adamw") {
    return std::make_unique<torch::optim::AdamW>(
        params, torch::optim::AdamWOptions(o.lr())
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

// Sums `values` across ranks in place (one small collective).
void allreduceSum(DistContext& dist, torch::Tensor& values) {
  if (!dist.comm) return;
  std::vector<torch::Tensor> t{values};
  dist.comm->allreduce(t, ReduceOp::kSum)->wait();
}

}  // namespace

Trainer::Trainer(config::JobConfig config, std::string config_path, DistContext& dist)
    : config_(std::move(config)), dist_(dist) {
  run_name_ = config::runName(config_, config_path);
  output_dir_ = config_.output().has_dir() ? config_.output().dir() : "runs/" + run_name_;
  const auto& t = config_.train();
  torch::manual_seed(static_cast<uint64_t>(t.seed()));

  data_ = loadDataset(config_);
  sampler_ = std::make_unique<DistributedSampler>(data_.train.size(), t.global_batch_size(),
                                                  t.grad_accum_steps(), dist_.rank,
                                                  dist_.world_size, static_cast<uint64_t>(t.seed()));
  total_steps_ = t.steps() > 0 ? t.steps() : t.epochs() * sampler_->stepsPerEpoch();

  model_ = makeModel(config_, data_.train.features.size(1), data_.train.num_classes);
  std::vector<torch::Tensor> state = model_->parameters();
  for (auto& b : model_->buffers()) state.push_back(b);
  if (dist_.comm) broadcastFromRank0(*dist_.comm, state);

  ReducerOptions ro;
  ro.first_bucket_mb = config_.dist().first_bucket_mb();
  ro.bucket_cap_mb = config_.dist().bucket_cap_mb();
  ro.timeout = std::chrono::milliseconds(static_cast<int64_t>(config_.dist().timeout_s() * 1000));
  reducer_ = std::make_unique<Reducer>(model_->parameters(), dist_.comm.get(), ro);
  optimizer_ = makeOptimizer(config_.optimizer(), model_->parameters());

  if (dist_.rank == 0) {
    int64_t n_params = 0;
    for (auto& p : model_->parameters()) n_params += p.numel();
    log::out(formatLogLine({{"run", run_name_},
                            {"world_size", int64_t{dist_.world_size}},
                            {"backend", std::string(dist_.comm ? dist_.comm->backendName() : "none")},
                            {"model", config_.model().name()},
                            {"params", n_params},
                            {"buckets", int64_t(reducer_->buckets().size())},
                            {"train_samples", data_.train.size()},
                            {"steps", total_steps_},
                            {"output", output_dir_}}));
  }
}

Trainer::~Trainer() = default;

double Trainer::trainStep(int64_t step) {
  const int64_t accum = config_.train().grad_accum_steps();
  const int64_t epoch = step / sampler_->stepsPerEpoch();
  const int64_t step_in_epoch = step % sampler_->stepsPerEpoch();
  optimizer_->param_groups()[0].options().set_lr(learningRate(config_, step, total_steps_));

  reducer_->zeroGrad();
  double loss_sum = 0;
  for (int64_t micro = 0; micro < accum; ++micro) {
    torch::Tensor idx = sampler_->indices(epoch, step_in_epoch, micro);  // (b,)
    torch::Tensor x = data_.train.features.index_select(0, idx);         // (b, F)
    torch::Tensor y = data_.train.labels.index_select(0, idx);           // (b,)
    // Only the last micro-step communicates; earlier ones accumulate locally.
    reducer_->prepareForBackward(/*sync=*/micro + 1 == accum);
    torch::Tensor loss = torch::cross_entropy_loss(model_->forward(x), y) / double(accum);
    loss.backward();
    loss_sum += loss.item<double>();
  }
  reducer_->finalizeBackward();
  optimizer_->step();
  return loss_sum;
}

EvalResult Trainer::evaluate() {
  torch::NoGradGuard no_grad;
  const Dataset& eval = data_.eval;
  const int64_t n = eval.size();
  const int64_t begin = n * dist_.rank / dist_.world_size;
  const int64_t end = n * (dist_.rank + 1) / dist_.world_size;
  constexpr int64_t kChunk = 4096;
  double loss_sum = 0, correct = 0;
  for (int64_t i = begin; i < end; i += kChunk) {
    int64_t len = std::min(kChunk, end - i);
    torch::Tensor logits = model_->forward(eval.features.narrow(0, i, len));  // (len, C)
    torch::Tensor y = eval.labels.narrow(0, i, len);
    loss_sum += torch::cross_entropy_loss(logits, y, {}, at::Reduction::Sum).item<double>();
    correct += logits.argmax(1).eq(y).sum().item<double>();
  }
  torch::Tensor totals = torch::tensor({loss_sum, correct}, torch::kFloat64);
  allreduceSum(dist_, totals);
  return {totals[0].item<double>() / double(n), totals[1].item<double>() / double(n)};
}

void Trainer::run() {
  const auto& t = config_.train();
  const Clock::time_point start = Clock::now();
  Clock::time_point window_start = start;
  double window_loss = 0, last_loss = 0;
  int64_t window_steps = 0;
  step_ms_.reserve(static_cast<size_t>(total_steps_));

  for (int64_t step = 0; step < total_steps_; ++step) {
    const Clock::time_point step_start = Clock::now();
    window_loss += trainStep(step);
    step_ms_.push_back(secondsSince(step_start) * 1e3);
    ++window_steps;

    const bool last = step + 1 == total_steps_;
    if ((step + 1) % t.log_every() == 0 || last) {
      torch::Tensor loss = torch::tensor({window_loss / double(window_steps)}, torch::kFloat64);
      allreduceSum(dist_, loss);
      last_loss = loss.item<double>() / dist_.world_size;
      const double seconds = secondsSince(window_start);
      if (dist_.rank == 0) {
        log::out(formatLogLine(
            {{"step", step + 1},
             {"epoch", step / sampler_->stepsPerEpoch()},
             {"loss", last_loss},
             {"lr", optimizer_->param_groups()[0].options().get_lr()},
             {"samples_per_sec", double(window_steps * t.global_batch_size()) / seconds},
             {"step_ms", seconds * 1e3 / double(window_steps)}}));
      }
      window_loss = 0;
      window_steps = 0;
      window_start = Clock::now();
    }
    if (t.eval_every() > 0 && (step + 1) % t.eval_every() == 0 && !last) {
      EvalResult e = evaluate();
      if (dist_.rank == 0)
        log::out(formatLogLine(
            {{"step", step + 1}, {"eval_loss", e.loss}, {"accuracy", e.accuracy}}));
    }
  }
  const double wall = secondsSince(start);
  EvalResult final_eval = evaluate();
  if (dist_.rank == 0) {
    log::out(formatLogLine({{"step", total_steps_},
                            {"eval_loss", final_eval.loss},
                            {"accuracy", final_eval.accuracy}}));
    writeOutputs(final_eval, last_loss, wall);
  }
}

void Trainer::writeOutputs(const EvalResult& eval, double train_loss, double wall_seconds) {
  namespace fs = std::filesystem;
  fs::create_directories(fs::path(output_dir_) / "model");
  saveTorchScript(*model_, output_dir_ + "/model/model.pt");
  writeFileAtomic(output_dir_ + "/model/config.yaml", config::toYaml(config_));
  const double samples = double(total_steps_ * config_.train().global_batch_size());
  writeMetricsJson({{"accuracy", eval.accuracy},
                    {"loss", eval.loss},
                    {"train_loss", train_loss},
                    {"steps", total_steps_},
                    {"world_size", int64_t{dist_.world_size}},
                    {"global_batch_size", config_.train().global_batch_size()},
                    {"samples_per_sec", samples / wall_seconds},
                    {"step_time_ms_median", median(step_ms_)},
                    {"wall_seconds", wall_seconds},
                    {"run", run_name_}},
                   output_dir_ + "/metrics.json");
  log::out("wrote " + output_dir_ + "/model/model.pt, model/config.yaml, metrics.json");
}

}  // namespace trainrun
