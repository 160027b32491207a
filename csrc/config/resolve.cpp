// Values derived from the config and the environment: run name, model sizes, data file.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/env.h"
#include "core/error.h"

namespace trainrun::config {

std::string runName(const JobConfig& config, const std::string& config_path,
                    const std::string& data_sha256) {
  // An explicit "" counts as unset, like the environment variable below.
  if (!config.run().name().empty()) return config.run().name();
  // SageMaker keeps TRAINING_JOB_NAME across spot restarts, so the restarted job resumes.
  const std::string job_name = env::get(env::kTrainingJobName);
  if (!job_name.empty()) return job_name;
  std::string stem = std::filesystem::path(config_path).stem().string();
  if (stem.empty()) stem = "run";  // a config from text has no path to name it
  return data_sha256.empty() ? stem : stem + "-" + data_sha256.substr(0, 8);
}

std::chrono::milliseconds groupTimeout(const JobConfig& config) {
  return std::chrono::milliseconds(static_cast<int64_t>(config.dist().timeout_s() * 1000));
}

std::vector<int64_t> mlpHidden(const JobConfig& config) {
  const auto& hidden = config.model().hidden();
  if (hidden.empty()) return {256, 256};
  return {hidden.begin(), hidden.end()};
}

bool isGptModel(const std::string& model_name) {
  return model_name == "gpt" || model_name == "gpt-tiny" || model_name == "gpt2-124m";
}

int64_t blockSize(const JobConfig& config) {
  const ModelConfig& m = config.model();
  if (m.block_size() > 0) return m.block_size();
  if (m.name() == "gpt-tiny") return 64;
  if (m.name() == "gpt2-124m") return 1024;
  if (m.name() == "torchscript")
    throw ConfigError("model.name=torchscript on token data needs model.block_size");
  throw ConfigError(
      "model.name=gpt needs model.block_size (or use a preset: "
      "model.name=gpt-tiny or gpt2-124m)");
}

int64_t vocabSize(const JobConfig& config) {
  if (config.model().vocab_size() > 0) return config.model().vocab_size();
  return config.model().name() == "gpt2-124m" ? 50257 : 0;
}

std::string dataPath(const JobConfig& config) {
  if (!config.data().path().empty()) return config.data().path();
  if (config.data().name() != "digits") return "";  // synthetic data is generated in memory
  const std::string dir = env::get(env::kDataDir);
  return ((dir.empty() ? std::filesystem::path("data") : std::filesystem::path(dir)) /
          "digits.csv.gz")
      .string();
}

std::vector<std::pair<std::string, std::string>> dataFiles(const JobConfig& config) {
  if (config.data().name() == "table") {
    // Each split's local files (a folder's visible files, sorted); S3 prefixes are named by
    // their objects' ETags in the fetch cache, not hashed here.
    std::vector<std::pair<std::string, std::string>> files;
    auto add = [&](const std::string& role, const std::string& path) {
      namespace fs = std::filesystem;
      std::error_code ec;
      if (path.empty() || path.rfind("s3://", 0) == 0 || !fs::exists(path, ec)) return;
      if (!fs::is_directory(path, ec)) {
        files.emplace_back(role, path);
        return;
      }
      std::vector<std::string> found;
      for (const auto& e : fs::directory_iterator(path, ec))
        if (e.is_regular_file(ec) && e.path().filename().string()[0] != '.' &&
            e.path().filename().string()[0] != '_')
          found.push_back(e.path().string());
      std::sort(found.begin(), found.end());
      for (const std::string& f : found) files.emplace_back(role, f);
    };
    add("train", config.data().path());
    add("validation", config.data().validation_path());
    add("test", config.data().test_path());
    return files;
  }
  const std::string path = dataPath(config);
  if (path.empty()) return {};
  return {{"data", path}};
}

std::string checkpointUri(const JobConfig& config) {
  const std::string& uri = config.checkpoint().uri();
  if (!uri.empty() && uri != kCheckpointUriAuto) return uri;
  // SageMaker managed spot syncs this folder to S3 and restores it after a preemption.
  const std::string sagemaker = env::get(env::kFsRoot) + "/opt/ml/checkpoints";
  if (std::filesystem::is_directory(sagemaker)) return sagemaker;
  return uri == kCheckpointUriAuto ? "checkpoints" : "";
}

std::string modelDir(const JobConfig& config, const std::string& output_dir) {
  if (!config.output().model_dir().empty()) return config.output().model_dir();
  return output_dir + "/model";
}

}  // namespace trainrun::config
