// Validation: (min)/(max)/(choices) from the schema and the cross-field rules.
#include "test_util.h"

namespace trainrun::config::testing {
namespace {

using ::testing::HasSubstr;
using ValidateTest = ConfigTest;

TEST_F(ValidateTest, MinBound) {
  EXPECT_EQ(configError([&] { parse("train: {global_batch_size: -4}"); }),
            "train.global_batch_size must be >= 1 (got -4)");
  EXPECT_EQ(configError([&] { parse("dist: {bucket_cap_mb: 0}"); }),
            "dist.bucket_cap_mb must be >= 0.0001 (got 0)");
  EXPECT_EQ(configError([&] { parse("optimizer: {lr: -0.5}"); }),
            "optimizer.lr must be >= 0 (got -0.5)");
}

TEST_F(ValidateTest, MinAndMaxBound) {
  EXPECT_EQ(configError([&] { parse("optimizer: {momentum: 1.5}"); }),
            "optimizer.momentum must be between 0 and 1 (got 1.5)");
  EXPECT_EQ(configError([&] { parse("data: {eval_fraction: 0.001}"); }),
            "data.eval_fraction must be between 0.01 and 0.9 (got 0.001)");
}

TEST_F(ValidateTest, BoundsAreInclusive) {
  const JobConfig c = parse("optimizer: {momentum: 1, beta2: 0}\ntrain: {global_batch_size: 1}");
  EXPECT_EQ(c.optimizer().momentum(), 1.0);
}

TEST_F(ValidateTest, RepeatedElementsAreRangeChecked) {
  EXPECT_EQ(configError([&] { parse("model: {hidden: [64, 0]}"); }),
            "model.hidden[1] must be >= 1 (got 0)");
}

TEST_F(ValidateTest, Choices) {
  EXPECT_EQ(configError([&] { parse("optimizer: {name: adam}"); }),
            "optimizer.name must be one of sgd, adamw (got 'adam'); did you mean 'adamw'?");
  EXPECT_EQ(configError([&] { parse("model: {name: resnet}"); }),
            "model.name must be one of mlp, gpt-tiny, gpt2-124m, gpt, torchscript (got 'resnet')");
  EXPECT_THAT(
      configError([&] { parse("dist: {backend: mpi}"); }),
      HasSubstr("dist.backend must be one of auto, gloo, shm, nccl, hierarchical (got 'mpi')"));
}

TEST_F(ValidateTest, BatchDivisibleByAccumulation) {
  EXPECT_EQ(configError([&] { parse("train: {global_batch_size: 64, grad_accum_steps: 3}"); }),
            "train.global_batch_size (64) must be divisible by train.grad_accum_steps (3)");
  EXPECT_EQ(parse("train: {global_batch_size: 64, grad_accum_steps: 4}").train().grad_accum_steps(),
            4);
}

TEST_F(ValidateTest, CudaGraphNeedsAdamWAndExcludesTheProfile) {
  EXPECT_EQ(configError([&] { parse("train: {cuda_graph: true}"); }),
            "train.cuda_graph needs optimizer.name: adamw (the captured step is the fused "
            "AdamW's, on the device; got sgd)");
  EXPECT_EQ(configError([&] {
              parse("train: {cuda_graph: true, profile: true}\noptimizer: {name: adamw}");
            }),
            "train.cuda_graph and train.profile exclude each other (the profile syncs the device "
            "between phases the graph runs as one launch): drop one");
  EXPECT_TRUE(parse("train: {cuda_graph: true}\noptimizer: {name: adamw}").train().cuda_graph());
}

TEST_F(ValidateTest, DigitsNeedsTheDataFile) {
  TempDir empty;
  ScopedEnv data_dir(env::kDataDir, empty.path().string());
  EXPECT_EQ(configError([&] { parse(""); }),
            "data file '" + (empty.path() / "digits.csv.gz").string() +
                "' not found (run scripts/setup.sh to fetch it, or set data.path)");
  EXPECT_EQ(configError([&] { parse("data: {path: /no/such/file.csv.gz}"); }),
            "data file '/no/such/file.csv.gz' not found (check data.path)");
  // Synthetic data needs no file.
  EXPECT_EQ(parse("data: {name: synthetic}").data().name(), "synthetic");
}

TEST_F(ValidateTest, TorchScriptNeedsAnExistingModelPath) {
  EXPECT_THAT(configError([&] { parse("model: {name: torchscript}"); }),
              HasSubstr("model.name=torchscript needs model.path"));
  EXPECT_EQ(configError([&] { parse("model: {name: torchscript, path: /no/net.pt}"); }),
            "model.path '/no/net.pt' not found (check model.path)");
  EXPECT_THAT(configError([&] { parse("model: {path: /no/net.pt}"); }),
              HasSubstr("model.path is only read with model.name=torchscript"));
  const std::string net = data_dir_.write("net.pt", "a module");
  EXPECT_EQ(parse("model: {name: torchscript, path: " + net + "}").model().path(), net);
  EXPECT_THAT(
      configError([&] {
        parse("model: {name: torchscript, path: " + net + "}\ndata: {name: synthetic_tokens}");
      }),
      HasSubstr("needs model.block_size"));
}

TEST_F(ValidateTest, DefaultDataPathIsRelativeToWorkingDir) {
  TempDir cwd;
  ScopedEnv data_dir(env::kDataDir, std::nullopt);
  const auto old_cwd = std::filesystem::current_path();
  std::filesystem::current_path(cwd.path());
  EXPECT_EQ(configError([&] { parse(""); }),
            "data file 'data/digits.csv.gz' not found (run scripts/setup.sh to fetch it, or set "
            "data.path)");
  std::filesystem::create_directory("data");
  cwd.write("data/digits.csv.gz", "fake");
  EXPECT_NO_THROW(parse(""));
  std::filesystem::current_path(old_cwd);
}

TEST_F(ValidateTest, TableKeys) {
  TempDir dir;
  dir.write("t.csv", "x,y\n1,0\n");
  const std::string table = "data: {name: table, path: '" + dir.path().string() + "/t.csv'";
  EXPECT_EQ(parse(table + ", label: y}").data().label(), "y");
  EXPECT_EQ(configError([&] { parse(table + "}"); }),
            "data.name=table needs data.label (the name of the label column)");
  EXPECT_EQ(configError([&] { parse("data: {name: table, label: y}"); }),
            "data.name=table needs data.path (the training split: a .csv, .csv.gz or .parquet "
            "file, a folder of them, or s3://bucket/prefix)");
  EXPECT_EQ(configError([&] { parse(table + ", label: y, validation_path: /no/such/dir}"); }),
            "data.validation_path '/no/such/dir' not found (check data.validation_path)");
  EXPECT_EQ(configError([&] { parse(table + ", label: y, test_path: 's3://Bad_Bucket/t'}"); }),
            "data.test_path 's3://Bad_Bucket/t': bucket name 'Bad_Bucket' contains 'B' (S3 "
            "allows lower-case letters, digits, '.' and '-')");
  EXPECT_NO_THROW(parse(table + ", label: y, validation_path: 's3://tables/validation'}"));
  EXPECT_EQ(configError([&] { parse(table + ", label: y, features: [x, y]}"); }),
            "data.features names the label column 'y'; remove it from data.features");
  EXPECT_EQ(configError([&] { parse(table + ", label: y, task: classify}"); }),
            "data.task must be one of auto, classification, regression (got 'classify')");
  EXPECT_EQ(configError([&] { parse(table + ", label: y}\nmodel: {name: gpt-tiny}"); }),
            "model.name=gpt-tiny needs token data: data.name tokens, text or synthetic_tokens "
            "(got 'table')");
  // Table keys with other data would be ignored: refused instead.
  EXPECT_EQ(configError([&] { parse("data: {name: synthetic, label: y}"); }),
            "data.label is read only with data.name=table (got data.name=synthetic)");
}

TEST_F(ValidateTest, TokenShardKeys) {
  const std::string gpt = "model: {name: gpt-tiny}\n";
  // A glob, a prefix or s3:// names no single file: the ranks list it, not the loader.
  EXPECT_EQ(parse(gpt + "data: {name: tokens, path: '/shards/train_*.bin'}").data().path(),
            "/shards/train_*.bin");
  EXPECT_EQ(
      parse(gpt + "data: {name: tokens, path: /a, validation_path: /b}").data().validation_path(),
      "/b");
  EXPECT_EQ(configError([&] { parse(gpt + "data: {name: tokens}"); }),
            "data.name=tokens needs data.path (the shards: a file, a folder, a glob or a prefix, "
            "local or s3://)");
  EXPECT_EQ(
      configError([&] { parse(gpt + "data: {name: tokens, path: /a, token_format: headerless}"); }),
      "data.token_format=headerless needs data.token_dtype (uint16 or uint32): a file with "
      "no header does not say how wide its tokens are");
  EXPECT_EQ(configError([&] { parse(gpt + "data: {name: tokens, path: 's3://Bad/x'}"); }),
            "data.path 's3://Bad/x': bucket name 'Bad' contains 'B' (S3 allows lower-case "
            "letters, digits, '.' and '-')");
  EXPECT_EQ(configError([&] { parse("data: {name: synthetic, cache_limit_gb: 2}"); }),
            "data.cache_limit_gb is read only with data.name=tokens (got data.name=synthetic)");
  EXPECT_EQ(configError([&] { parse(gpt + "data: {name: tokens, path: /a, token_dtype: int8}"); }),
            "data.token_dtype must be one of auto, uint16, uint32 (got 'int8')");
}

TEST_F(ValidateTest, CheckpointUriSyntaxIsCheckedAtLoad) {
  EXPECT_EQ(configError([&] { parse("checkpoint: {uri: 's3://'}"); }),
            "checkpoint.uri 's3://' names no bucket (s3://bucket/prefix)");
  EXPECT_EQ(configError([&] { parse("checkpoint: {uri: 's3:///runs'}"); }),
            "checkpoint.uri 's3:///runs' names no bucket (s3://bucket/prefix)");
  EXPECT_EQ(configError([&] { parse("checkpoint: {uri: 's3://My_Bucket/runs'}"); }),
            "checkpoint.uri 's3://My_Bucket/runs': bucket name 'My_Bucket' contains 'M' (S3 "
            "allows lower-case letters, digits, '.' and '-')");
  EXPECT_EQ(configError([&] { parse("checkpoint: {uri: 's3://ab/runs'}"); }),
            "checkpoint.uri 's3://ab/runs': bucket name 'ab' has 2 characters (S3 allows 3 to "
            "63)");
  EXPECT_EQ(configError([&] { parse("checkpoint: {uri: 's3://bkt//runs'}"); }),
            "checkpoint.uri 's3://bkt//runs' has an empty path segment (\"//\"); write "
            "s3://bkt/prefix");
  EXPECT_EQ(configError([&] { parse("checkpoint: {uri: 's3:/bkt/runs'}"); }),
            "checkpoint.uri 's3:/bkt/runs' is not an S3 URI; write it as s3://bucket/prefix");
  EXPECT_EQ(configError([&] { parse("checkpoint: {uri: 'gs://bkt/runs'}"); }),
            "checkpoint.uri 'gs://bkt/runs': unsupported scheme gs:// (use s3://bucket/prefix or "
            "a local folder)");
  EXPECT_EQ(configError([&] { parse("resume: 's3://-bkt/run/step-00000010'"); }),
            "resume 's3://-bkt/run/step-00000010': bucket name '-bkt' must start and end with a "
            "letter or digit");
  EXPECT_EQ(configError([&] { parse("checkpoint: {s3_endpoint: '127.0.0.1:9000'}"); }),
            "checkpoint.s3_endpoint '127.0.0.1:9000' must start with http:// or https://");
  EXPECT_EQ(parse("checkpoint: {uri: 's3://ckpt'}").checkpoint().uri(), "s3://ckpt");
  EXPECT_EQ(parse("checkpoint: {uri: 's3://my.bucket-1/a/b/'}").checkpoint().uri(),
            "s3://my.bucket-1/a/b/");
  EXPECT_EQ(parse("checkpoint: {uri: 'ckpt/local'}").checkpoint().uri(), "ckpt/local");
  EXPECT_EQ(parse("checkpoint: {uri: ''}").checkpoint().uri(), "");  // no checkpoints
}

TEST_F(ValidateTest, MaxConsecutiveCheckpointFailures) {
  EXPECT_EQ(parse("").checkpoint().max_consecutive_failures(), 3);
  EXPECT_EQ(configError([&] { parse("checkpoint: {max_consecutive_failures: 0}"); }),
            "checkpoint.max_consecutive_failures must be >= 1 (got 0)");
}

}  // namespace
}  // namespace trainrun::config::testing
