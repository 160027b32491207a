// Derived values: runName precedence, mlpHidden default, dataPath resolution.
#include <unistd.h>

#include <filesystem>

#include "support/temp_dir.h"
#include "test_util.h"

namespace trainrun::config::testing {
namespace {

TEST(RunNameTest, Precedence) {
  JobConfig c;
  {
    ScopedEnv job(env::kTrainingJobName, std::nullopt);
    EXPECT_EQ(runName(c, "configs/digits-mlp.yaml"), "digits-mlp");
    EXPECT_EQ(runName(c, "/abs/path/exp.v2.yaml"), "exp.v2");
    EXPECT_EQ(runName(c, ""), "run");
  }
  {
    ScopedEnv job(env::kTrainingJobName, "");  // empty counts as unset
    EXPECT_EQ(runName(c, "configs/digits-mlp.yaml"), "digits-mlp");
  }
  {
    ScopedEnv job(env::kTrainingJobName, "sm-job-123");
    EXPECT_EQ(runName(c, "configs/digits-mlp.yaml"), "sm-job-123");
    c.mutable_run()->set_name("");  // explicit "" counts as unset too
    EXPECT_EQ(runName(c, "configs/digits-mlp.yaml"), "sm-job-123");
    c.mutable_run()->set_name("mine");
    EXPECT_EQ(runName(c, "configs/digits-mlp.yaml"), "mine");
  }
}

TEST(RunNameTest, UnnamedRunsCarryTheDataDigest) {
  const std::string digest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  JobConfig c;
  {
    ScopedEnv job(env::kTrainingJobName, std::nullopt);
    EXPECT_EQ(runName(c, "configs/digits-mlp.yaml", digest), "digits-mlp-01234567");
    EXPECT_EQ(runName(c, "configs/digits-mlp.yaml", ""), "digits-mlp");  // no data file
    c.mutable_run()->set_name("mine");                                   // a name given is kept
    EXPECT_EQ(runName(c, "configs/digits-mlp.yaml", digest), "mine");
  }
  {
    ScopedEnv job(env::kTrainingJobName, "sm-job-123");
    c.mutable_run()->set_name("");
    EXPECT_EQ(runName(c, "configs/digits-mlp.yaml", digest), "sm-job-123");
  }
}

TEST(MlpHiddenTest, DefaultAndExplicit) {
  JobConfig c;
  EXPECT_EQ(mlpHidden(c), (std::vector<int64_t>{256, 256}));
  c.mutable_model()->add_hidden(64);
  c.mutable_model()->add_hidden(32);
  EXPECT_EQ(mlpHidden(c), (std::vector<int64_t>{64, 32}));
}

TEST(DataPathTest, Resolution) {
  JobConfig c;
  {
    ScopedEnv dir(env::kDataDir, std::nullopt);
    EXPECT_EQ(dataPath(c), "data/digits.csv.gz");
  }
  {
    ScopedEnv dir(env::kDataDir, "");
    EXPECT_EQ(dataPath(c), "data/digits.csv.gz");
  }
  {
    ScopedEnv dir(env::kDataDir, "/opt/ml/input/data/train");
    EXPECT_EQ(dataPath(c), "/opt/ml/input/data/train/digits.csv.gz");
    c.mutable_data()->set_path("my/digits.csv.gz");
    EXPECT_EQ(dataPath(c), "my/digits.csv.gz");
  }
  JobConfig synthetic;
  synthetic.mutable_data()->set_name("synthetic");
  EXPECT_EQ(dataPath(synthetic), "");
}

TEST(CheckpointUriTest, AutoPicksSageMakerElseLocal) {
  const trainrun::testing::TempDir tmp;
  const std::string root = tmp.str();
  ScopedEnv fs_root(env::kFsRoot, root);
  JobConfig c;
  EXPECT_EQ(checkpointUri(c), "");  // unset: no checkpoints outside SageMaker
  c.mutable_checkpoint()->set_uri("auto");
  EXPECT_EQ(checkpointUri(c), "checkpoints");
  std::filesystem::create_directories(root + "/opt/ml/checkpoints");
  EXPECT_EQ(checkpointUri(c), root + "/opt/ml/checkpoints");
  c.clear_checkpoint();
  EXPECT_EQ(checkpointUri(c), root + "/opt/ml/checkpoints");
  c.mutable_checkpoint()->set_uri("s3://b/p");  // a named location always wins
  EXPECT_EQ(checkpointUri(c), "s3://b/p");
}

TEST(ModelDirTest, DefaultUnderOutputDir) {
  JobConfig c;
  EXPECT_EQ(modelDir(c, "runs/x"), "runs/x/model");
  c.mutable_output()->set_model_dir("/opt/ml/model");
  EXPECT_EQ(modelDir(c, "runs/x"), "/opt/ml/model");
}

}  // namespace
}  // namespace trainrun::config::testing
