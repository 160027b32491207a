// Writing the run's outputs: evaluation, model card, model, metrics, lineage, and uploading them.
#include "train/run_outputs.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/digest.h"
#include "core/file.h"
#include "core/logging.h"
#include "metrics/metrics.h"
#include "pipeline/lineage.h"
#include "pipeline/model_card.h"
#include "pipeline/output_upload.h"
#include "train/run_report.h"

namespace trainrun {
namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// metrics.json's fields, in their order.
Metrics finalMetrics(const RunRecord& run, const config::JobConfig& config, const Model& model,
                     const RunResult& result, const DistContext& dist) {
  const EvalResult& eval = result.eval;
  const double samples =
      double((run.total_steps - run.start_step) * config.train().global_batch_size());
  // Throughput and MFU count the training steps only: no start-up, evaluation or final save.
  double train_seconds = 0;
  for (double ms : result.step_ms) train_seconds += ms / 1e3;
  if (train_seconds <= 0) train_seconds = result.wall_seconds;
  Metrics metrics;
  if (eval.regression) {
    metrics = {{"mse", eval.loss}, {"rmse", std::sqrt(eval.loss)}};
  } else {
    metrics = {{"accuracy", eval.accuracy}};
  }
  metrics.emplace_back("loss", eval.loss);
  if (result.test)
    for (auto& field : evalFields(*result.test, "test_")) metrics.push_back(field);
  metrics.insert(metrics.end(), {{"train_loss", result.train_loss},
                                 {"steps", run.total_steps},
                                 {"world_size", int64_t{run.world_size}},
                                 {"global_batch_size", config.train().global_batch_size()},
                                 {"samples_per_sec", samples / train_seconds},
                                 {"step_time_ms_median", median(result.step_ms)},
                                 {"wall_seconds", result.wall_seconds},
                                 {"run", run.run_name},
                                 {"device", run.device_report.name},
                                 {"precision", std::string(precisionName(run.precision))}});
  addThroughput(metrics, model.flopsPerSample(), samples / train_seconds, run.world_size,
                run.device_report.peak_tflops);
  if (dist.elastic) addMembership(metrics, dist);
  if (run.device.is_cuda())
    metrics.emplace_back("peak_memory_mb", double(peakMemoryBytes(run.device)) / 1e6);
  return metrics;
}

// lineage.json, after model.pt (whose digest it holds).
void writeLineage(const RunRecord& run, const config::JobConfig& config) {
  Lineage l;
  l.run = run.run_name;
  l.config_path = run.config_path;
  if (auto text = readWholeFile(run.config_path)) l.config_sha256 = sha256Hex(*text);
  l.resolved_config_sha256 = sha256Hex(config::toYaml(config));
  l.data = run.data;
  l.resumed_from = run.resumed_from;
  l.world_size = run.world_size;
  l.steps = run.total_steps;
  l.device = run.device_report.name;
  l.cuda = run.device_report.cuda;
  l.cudnn = run.device_report.cudnn;
  l.nccl = run.device_report.nccl;
  l.model_sha256 = sha256OfFile(run.model_dir + "/model.pt").sha256;
  writeFileAtomic(run.output_dir + "/lineage.json", lineageJson(l).dump(2) + "\n");
}

}  // namespace

void writeEvaluation(const RunRecord& run, const config::JobConfig& config,
                     const TrainEvalSplit& data, const std::vector<EvaluatedSplit>& splits) {
  std::filesystem::create_directories(run.model_dir);
  const Json document = evaluationReport(splits);
  writeFileAtomic(run.output_dir + "/evaluation.json", document.dump(2) + "\n");
  ModelCardInfo card;
  card.run = run.run_name;
  card.model_name = config.model().name();
  card.tokens = data.train.labels.dim() > 1;
  card.input_width = data.train.features.size(1);
  card.num_classes = data.train.num_classes;
  card.data_name = config.data().name();
  card.data = run.data;
  card.train_samples = trainSamples(data);
  card.validation_samples = data.eval.size();
  card.test_samples = data.test.size();
  card.steps = run.total_steps;
  card.world_size = run.world_size;
  card.global_batch_size = config.train().global_batch_size();
  card.precision = precisionName(run.precision);
  card.optimizer = config.optimizer().name();
  card.evaluation = document;
  writeFileAtomic(run.model_dir + "/model_card.json", modelCard(card).dump(2) + "\n");
}

void writeOutputs(const RunRecord& run, const config::JobConfig& config, const Model& model,
                  const RunResult& result, const DistContext& dist) {
  std::filesystem::create_directories(run.model_dir);
  saveTorchScript(model, run.model_dir + "/model.pt");
  writeFileAtomic(run.model_dir + "/config.yaml", config::toYaml(config));
  writeMetricsJson(finalMetrics(run, config, model, result, dist),
                   run.output_dir + "/metrics.json");
  writeLineage(run, config);
  log::out("wrote " + run.model_dir + "/model.pt, config.yaml, model_card.json; " + run.output_dir +
           "/metrics.json, metrics.jsonl, evaluation.json, lineage.json, " + "tensorboard/");
}

void uploadOutputs(const config::JobConfig& config, const std::string& output_dir,
                   const std::string& model_dir) {
  if (config.output().uri().empty()) return;
  const std::vector<std::string> keys = pipeline::uploadOutputs(
      config.output().uri(), config.checkpoint().s3_endpoint(), output_dir, model_dir);
  std::string names;
  for (const std::string& k : keys) names += (names.empty() ? "" : ", ") + k;
  log::out("uploaded " + names + " to " + config.output().uri());
}

}  // namespace trainrun
