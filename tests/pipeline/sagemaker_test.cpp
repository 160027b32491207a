// The SageMaker contract on a fake /opt/ml tree: hyperparameters, config choice, channels, SM_*.
#include "pipeline/sagemaker.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/error.h"
#include "support/temp_dir.h"

namespace trainrun::pipeline {
namespace {
namespace fs = std::filesystem;

class SageMakerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.path();
    fs::create_directories(root_ / "opt/ml/input/config");
    fs::create_directories(root_ / "opt/ml/input/data/train");
    write("opt/ml/input/data/train/digits.csv.gz", "0,1\n");
    write("data/digits.csv.gz", "0,1\n");  // the default config's data file, for validation
    cwd_ = fs::current_path();
    fs::current_path(root_);
  }
  void TearDown() override { fs::current_path(cwd_); }
  void write(const std::string& rel, const std::string& text) {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel) << text;
  }
  TrainingJob job() { return sageMakerTrainingJob(layout(), TRAINRUN_SOURCE_DIR); }
  SageMakerLayout layout() {
    return SageMakerLayout([this](const std::string& k) { return env_[k]; }, root_.string());
  }
  std::string ml(const std::string& rel) { return (root_ / "opt/ml" / rel).string(); }
  static bool has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  }
  std::string error() {
    try {
      job();
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }

  testing::TempDir tmp_;
  fs::path root_, cwd_;
  std::map<std::string, std::string> env_;
};

TEST_F(SageMakerTest, HyperparametersBecomeOverridesAndChannelsFillDataKeys) {
  write("opt/ml/input/config/hyperparameters.json",
        R"({"train.steps": "100", "model.hidden": "[64, 32]", "sagemaker_region": "\"x\"",
            "_tuning_objective_metric": "accuracy"})");
  TrainingJob j = job();
  EXPECT_EQ(j.config_path, std::string(TRAINRUN_SOURCE_DIR) + "/configs/digits-mlp.yaml");
  EXPECT_EQ(j.config_source, "the image's default");
  EXPECT_TRUE(has(j.overrides, "train.steps=100"));
  EXPECT_TRUE(has(j.overrides, "model.hidden=[64, 32]"));
  EXPECT_TRUE(has(j.overrides, "data.path=" + ml("input/data/train/digits.csv.gz")));
  EXPECT_TRUE(has(j.overrides, "output.model_dir=" + ml("model")));
  EXPECT_TRUE(has(j.overrides, "output.dir=" + ml("output/data")));
  for (const std::string& o : j.overrides) {  // SageMaker's own entries are not config keys
    EXPECT_EQ(o.find("sagemaker_"), std::string::npos) << o;
    EXPECT_EQ(o.find("_tuning"), std::string::npos) << o;
    EXPECT_EQ(o.find("tensorboard"), std::string::npos) << o;  // no such folder here
  }
  fs::create_directories(ml("output/tensorboard"));
  EXPECT_TRUE(has(job().overrides, "output.tensorboard_dir=" + ml("output/tensorboard")));
}

TEST_F(SageMakerTest, SmVariablesWinOverTheLayout) {
  write("elsewhere/train/d.csv.gz", "0,1\n");
  env_["SM_CHANNEL_TRAIN"] = (root_ / "elsewhere/train").string();
  env_["SM_MODEL_DIR"] = "/somewhere/model";
  env_["SM_OUTPUT_DATA_DIR"] = "/somewhere/out";
  TrainingJob j = job();
  EXPECT_TRUE(has(j.overrides, "data.path=" + (root_ / "elsewhere/train/d.csv.gz").string()));
  EXPECT_TRUE(has(j.overrides, "output.model_dir=/somewhere/model"));
  EXPECT_TRUE(has(j.overrides, "output.dir=/somewhere/out"));
}

TEST_F(SageMakerTest, ExplicitKeysWinOverThePlatform) {
  write("opt/ml/input/config/hyperparameters.json", R"({"data.path": ")" +
                                                        (root_ / "data/digits.csv.gz").string() +
                                                        R"(", "output.dir": "mine"})");
  TrainingJob j = job();
  for (const std::string& o : j.overrides) {
    EXPECT_NE(o, "data.path=" + ml("input/data/train/digits.csv.gz"));
    EXPECT_NE(o, "output.dir=" + ml("output/data"));
  }
  EXPECT_TRUE(has(j.overrides, "output.dir=mine"));
  EXPECT_TRUE(has(j.notes, "data.path from the config (channel train not used)"));
}

TEST_F(SageMakerTest, ConfigFromHyperparameterOrConfigChannel) {
  write("opt/ml/input/data/config/job.yml", "train:\n  steps: 7\n");
  TrainingJob j = job();
  EXPECT_EQ(j.config_path, ml("input/data/config/job.yml"));
  EXPECT_EQ(j.config_source, "the config channel");
  write("opt/ml/input/data/config/other.yaml", "train:\n  steps: 8\n");
  EXPECT_NE(error().find("holds 2 YAML files"), std::string::npos) << error();
  write("opt/ml/input/config/hyperparameters.json", R"({"config": "other.yaml"})");
  EXPECT_EQ(job().config_path, ml("input/data/config/other.yaml"));
  write("opt/ml/input/config/hyperparameters.json", R"({"config": "configs/gpt-tiny.yaml"})");
  EXPECT_EQ(job().config_path, std::string(TRAINRUN_SOURCE_DIR) + "/configs/gpt-tiny.yaml");
  write("opt/ml/input/config/hyperparameters.json", R"({"config": "nope.yaml"})");
  EXPECT_NE(error().find("hyperparameter config='nope.yaml': no such file"), std::string::npos);
}

TEST_F(SageMakerTest, BadHyperparametersAreNamed) {
  const std::map<std::string, std::string> cases = {
      {R"({"train.stepz": "1"})", "hyperparameter train.stepz='1' ("},
      {R"({"train.steps": "many"})", "hyperparameter train.steps='many' ("},
      {R"({"train.steps": "-1"})", "hyperparameter train.steps='-1' ("},
      {R"({"optimizer.name": "lamb"})", "hyperparameter optimizer.name='lamb' ("},
      {R"({"train.steps": {"a": 1}})", "hyperparameter train.steps in "},
      {R"([1, 2])", "is not a JSON object"}};
  for (const auto& [json, expected] : cases) {
    write("opt/ml/input/config/hyperparameters.json", json);
    const std::string e = error();
    EXPECT_NE(e.find(expected), std::string::npos) << json << " -> " << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  }
}

TEST_F(SageMakerTest, ChannelProblemsAreOneLine) {
  write("opt/ml/input/data/train/second.csv.gz", "0,1\n");
  EXPECT_NE(error().find("channel train ("), std::string::npos) << error();
  EXPECT_NE(error().find("holds 2 files; data.name=digits reads one file"), std::string::npos);
  fs::remove(ml("input/data/train/second.csv.gz"));
  write("opt/ml/input/config/inputdataconfig.json", R"({"train": {"TrainingInputMode": "Pipe"}})");
  EXPECT_NE(error().find("channel train uses Pipe input mode"), std::string::npos) << error();
}

TEST_F(SageMakerTest, AShardedDataChannelIsAnErrorOnSeveralHosts) {
  // Each host would hold other objects while every rank reads the whole data set.
  write("opt/ml/input/config/inputdataconfig.json",
        R"({"train": {"TrainingInputMode": "File", "S3DistributionType": "ShardedByS3Key"}})");
  std::string e;
  try {
    sageMakerTrainingJob(layout(), TRAINRUN_SOURCE_DIR, 2);
  } catch (const ConfigError& error) {
    e = error.what();
  }
  EXPECT_NE(e.find("channel train is ShardedByS3Key"), std::string::npos) << e;
  EXPECT_NE(e.find("each of the 2 hosts holds part of its objects"), std::string::npos) << e;
  EXPECT_NE(e.find("give the channel S3DataDistributionType FullyReplicated"), std::string::npos);
  EXPECT_EQ(error(), "");  // one host holds every object
  // A channel the config does not read (data.path set) may be distributed as it likes.
  write("opt/ml/input/config/hyperparameters.json",
        R"({"data.path": ")" + (root_ / "data/digits.csv.gz").string() + R"("})");
  EXPECT_NO_THROW(sageMakerTrainingJob(layout(), TRAINRUN_SOURCE_DIR, 2));
}

TEST(FailureReasonTest, FirstReasonWinsAsOneLine) {
  const testing::TempDir tmp;
  const std::string path = tmp.path() / "failure";
  writeFailureReason(path, "first\nreason");
  writeFailureReason(path, "second");
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "first reason\n");
  fs::remove(path);
  writeFailureReason("", "ignored");  // no file named: nothing to do, no throw
}

}  // namespace
}  // namespace trainrun::pipeline
