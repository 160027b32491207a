// SageMaker's training-container contract for `trainrun train`: what /opt/ml says, as a config.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace trainrun::pipeline {

using Env = std::function<std::string(const std::string&)>;

// The job `trainrun train` runs: a config file and --set overrides, as if typed by the user.
struct TrainingJob {
  std::string config_path;             // the YAML config
  std::string config_source;           // how it was chosen ("the config channel", ...)
  std::vector<std::string> overrides;  // "key=value": hyperparameters, then platform defaults
  std::vector<std::string> notes;      // what the platform filled in, for the start-up line
};

// Every /opt/ml path sits under `root` ("" in a real container; tests give a fake tree), and a
// sagemaker-training toolkit variable, where set, wins over the file layout.
class SageMakerLayout {
 public:
  SageMakerLayout(Env env, std::string root) : env_(std::move(env)), root_(std::move(root)) {}

  std::string hyperparametersFile() const;  // /opt/ml/input/config/hyperparameters.json
  std::string inputDataConfigFile() const;  // /opt/ml/input/config/inputdataconfig.json
  std::string channelDir(const std::string& channel) const;  // $SM_CHANNEL_<NAME>, else
                                                             // /opt/ml/input/data/<name>
  std::string modelDir() const;                              // $SM_MODEL_DIR, else /opt/ml/model
  std::string outputDataDir() const;   // $SM_OUTPUT_DATA_DIR, else /opt/ml/output/data
  std::string tensorboardDir() const;  // /opt/ml/output/tensorboard
  std::string failureFile() const;     // /opt/ml/output/failure
  std::string checkpointsDir() const;  // /opt/ml/checkpoints

 private:
  Env env_;
  std::string root_;
};

// hyperparameters.json as key -> value text (YAML, as for --set). Values are JSON strings as
// SageMaker requires ("100", "[64, 32]"; a number or list is taken as written). SageMaker's own
// entries (names starting with "sagemaker_" or "_", e.g. _tuning_objective_metric) are left
// out. A missing file is no hyperparameters; a malformed one is a ConfigError naming it.
std::map<std::string, std::string> readHyperparameters(const std::string& path);

// Builds the job from the layout: the config from the hyperparameter `config` (a path, relative
// to the config channel or to `image_root`), else the config channel's single YAML file, else
// <image_root>/configs/digits-mlp.yaml; every other hyperparameter as an override, typed by the
// schema; the channels train, validation and test as data.path, data.validation_path and
// data.test_path, the model folder, the output folder and the TensorBoard folder, each only
// where the config and hyperparameters leave the key unset. Validates the whole config. Throws
// ConfigError with one line naming the hyperparameter, channel or file at fault; with `hosts`
// (the job's instance count) above 1, also for a data channel it fills that is distributed
// ShardedByS3Key (each host would hold other objects).
TrainingJob sageMakerTrainingJob(const SageMakerLayout& layout, const std::string& image_root,
                                 int hosts = 1);

// The folder holding the image's configs/: the parent of the folder of the running executable
// (/opt/trainrun/bin/trainrun -> /opt/trainrun; build/trainrun -> the source tree).
std::string imageRoot();

// Writes `reason` as one line to `path` (SageMaker shows it as the job's failure reason) unless
// a reason is already there: the first failure wins. Never throws; "" paths are ignored.
void writeFailureReason(const std::string& path, const std::string& reason);

}  // namespace trainrun::pipeline
