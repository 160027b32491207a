// Reporting a run: log lines, metrics.jsonl, TensorBoard scalars, throughput and the profile.
#include "train/run_report.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <sstream>
#include <utility>

#include "core/logging.h"
#include "data/token_corpus.h"
#include "metrics/tensorboard.h"
#include "store/store_keys.h"

namespace trainrun {
namespace {

// Spaces would split a key=value field: "NVIDIA H100 80GB HBM3" -> NVIDIA_H100_80GB_HBM3.
std::string underscored(std::string v) {
  for (char& c : v)
    if (c == ' ') c = '_';
  return v;
}

std::string tensorboardDir(const std::string& output_dir, const std::string& configured) {
  // output.tensorboard_dir (SageMaker's TensorBoard folder under `trainrun train`), else
  // <output.dir>/tensorboard.
  return configured.empty() ? output_dir + "/tensorboard" : configured;
}

std::unique_ptr<MetricsHistory> openJsonl(const std::string& output_dir, int64_t completed) {
  std::filesystem::create_directories(output_dir);
  // A resumed run keeps the history up to its checkpoint's step and repeats the rest.
  return std::make_unique<MetricsHistory>(output_dir + "/metrics.jsonl", completed);
}

// Tables: the line describing the data (task, label, rows of each split) and the fetches.
void logTableLine(const TrainEvalSplit& data) {
  const TableInfo& table = *data.table;
  const bool regression = data.train.task == Task::kRegression;
  log::out(
      formatLogLine({{"data", std::string("table")},
                     {"task", std::string(regression ? "regression" : "classification")},
                     {"task_from", underscored(table.task_reason)},
                     {"label", table.label},
                     {"features", int64_t(table.feature_names.size())},
                     {"classes", regression ? int64_t{0} : data.train.num_classes},
                     {"train_rows", data.train.size()},
                     {"eval_rows", data.eval.size()},
                     {"test_rows", data.test.size()},
                     {"files", int64_t(table.train_files.size() + table.validation_files.size() +
                                       table.test_files.size())}}));
  for (const std::string& summary : table.fetch_summaries) log::out("fetched " + summary);
}

// The device line: name, CUDA, NCCL, cuDNN, precision and peak TFLOPS.
void logDeviceLine(const DeviceReport& device, Precision precision) {
  auto field = [](const std::string& v) {
    return v.empty() ? std::string("none") : underscored(v);
  };
  log::out(formatLogLine({{"device_name", field(device.name)},
                          {"cuda", field(device.cuda)},
                          {"nccl", field(device.nccl)},
                          {"cudnn", field(device.cudnn)},
                          {"precision", std::string(precisionName(precision))},
                          {"peak_tflops", device.peak_tflops}}));
}

}  // namespace

RunHistory::RunHistory(const std::string& output_dir, const std::string& tensorboard_dir,
                       int64_t completed, int64_t total_steps)
    : total_steps_(total_steps),
      history_(openJsonl(output_dir, completed)),
      tensorboard_(
          std::make_unique<TensorBoardWriter>(tensorboardDir(output_dir, tensorboard_dir))) {}

RunHistory::~RunHistory() = default;

void RunHistory::report(int64_t step, const Metrics& values) {
  Metrics line{{"step", std::to_string(step) + "/" + std::to_string(total_steps_)}};
  line.insert(line.end(), values.begin(), values.end());
  log::out(formatLogLine(line));
  Metrics entry{{"step", step}, {"total_steps", total_steps_}};
  entry.insert(entry.end(), values.begin(), values.end());
  entry.emplace_back(
      "wall_time",
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  history_->append(entry);
  std::vector<std::pair<std::string, double>> scalars;
  for (const auto& [key, value] : values) {
    if (auto* d = std::get_if<double>(&value)) scalars.emplace_back(key, *d);
    if (auto* i = std::get_if<int64_t>(&value)) scalars.emplace_back(key, double(*i));
  }
  tensorboard_->scalars(step, scalars);
}

// Token shards: what was listed, and where evaluation reads.
void logCorpusLine(const TrainEvalSplit& data) {
  const ShardManifest& m = data.corpus->manifest();
  log::out(formatLogLine(
      {{"data", std::string("tokens")},
       {"shards", int64_t(m.shards.size())},
       {"tokens", int64_t(m.totalTokens())},
       {"bytes", int64_t(m.totalBytes())},
       {"windows", int64_t(data.corpus->windows())},
       {"format", std::string(shardFormatName(m.shards[0].header.format))},
       {"eval_windows", data.eval.size()},
       {"eval_from", std::string(data.validation_corpus ? "validation_shards"
                                                        : "training_shards_not_held_out")}}));
}

void logRunStart(const RunRecord& run, const config::JobConfig& config, const std::string& backend,
                 int64_t params, int64_t buckets, const TrainEvalSplit& data) {
  log::out(formatLogLine({{"run", run.run_name},
                          {"world_size", int64_t{run.world_size}},
                          {"backend", backend},
                          {"model", config.model().name()},
                          {"device", run.device.str()},
                          {"precision", std::string(precisionName(run.precision))},
                          {"params", params},
                          {"buckets", buckets},
                          {"train_samples", trainSamples(data)},
                          {"steps", run.total_steps},
                          {"output", run.output_dir}}));
  if (data.table) logTableLine(data);
  if (data.corpus) logCorpusLine(data);
  logDeviceLine(run.device_report, run.precision);
}

void addThroughput(Metrics& line, double flops_per_sample, double samples_per_sec, int world_size,
                   double peak_tflops) {
  // Achieved model FLOPs per rank: the formula's FLOPs (6N + attention for a GPT), not the
  // hardware's, so MFU compares fairly across implementations.
  const double tflops = flops_per_sample * samples_per_sec / double(world_size) / 1e12;
  line.emplace_back("tflops", tflops);
  if (peak_tflops > 0) line.emplace_back("mfu", tflops / peak_tflops);
}

void addMembership(Metrics& metrics, const DistContext& dist) {
  // Each re-formed generation's source rank recorded what it cost in the store.
  const int64_t generations = dist.elastic->generation();
  int64_t changes = 0, lost = 0, min_world = dist.world_size;
  double worst_ms = 0;
  for (int64_t g = 1; g <= generations; ++g) {
    if (!dist.store->check({recoveryKey(g)})) continue;  // ended while the ranks gathered
    std::istringstream in(dist.store->get(recoveryKey(g)));
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

void reportProfile(const StepProfile& profile, const config::JobConfig& config,
                   const ProfiledRun& run, const std::string& output_dir) {
  if (profile.steps() == 0) return;
  NodeProfile p;
  p.phases = profile.medianPhases();
  log::out("time_split: " + phasesLogFields(p.phases) + " " +
           formatLogLine({{"data_p99_ms", profile.quantile(&StepPhases::data_ms, 0.99)}}) +
           " (medians of " + std::to_string(profile.steps()) + " steps; data_p99_ms: their 99th " +
           "percentile)");
  if (!config.train().profile()) return;
  p.grad_ready_ms = profile.medianGradReady();
  for (const torch::Tensor& param : run.params) {
    p.grad_bytes.push_back(param.numel() * static_cast<int64_t>(param.element_size()));
    p.grad_dtype.push_back(static_cast<int>(param.scalar_type()));
  }
  p.grad_ready_ms.resize(p.grad_bytes.size());
  const auto& t = config.train();
  p.world_size = run.world_size;
  p.global_batch_size = t.global_batch_size();
  p.grad_accum_steps = t.grad_accum_steps();
  p.first_bucket_mb = config.dist().first_bucket_mb();
  p.bucket_cap_mb = config.dist().bucket_cap_mb();
  p.wire_bytes = config.dist().compression() == "none" ? 4 : 2;
  p.steps = profile.steps();
  p.device = run.device.str();
  writeNodeProfile(p, output_dir + "/profile.json");
}

}  // namespace trainrun
