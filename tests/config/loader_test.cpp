// Loading YAML into JobConfig: defaults, file errors, unknown keys and type errors.
#include <google/protobuf/descriptor.pb.h>

#include "config/internal.h"
#include "test_util.h"

namespace trainrun::config::testing {
namespace {

using ::testing::HasSubstr;
using LoaderTest = ConfigTest;

TEST_F(LoaderTest, EmptyYamlGivesDefaults) {
  for (const std::string yaml : {"", "# only a comment\n", "~\n"}) {
    const JobConfig c = parse(yaml);
    EXPECT_EQ(c.train().steps(), 0);
    EXPECT_EQ(c.train().epochs(), 1);
    EXPECT_EQ(c.train().global_batch_size(), 64);
    EXPECT_EQ(c.optimizer().name(), "sgd");
    EXPECT_DOUBLE_EQ(c.optimizer().lr(), 0.1);
    EXPECT_DOUBLE_EQ(c.optimizer().eps(), 1e-8);
    EXPECT_EQ(c.scheduler().name(), "cosine");
    EXPECT_EQ(c.data().name(), "digits");
    EXPECT_EQ(c.dist().backend(), "auto");
    EXPECT_TRUE(c.model().hidden().empty());
    EXPECT_FALSE(c.run().has_name());
  }
}

TEST_F(LoaderTest, ReadsNestedValuesOfEveryType) {
  const JobConfig c = parse(R"(
run: {name: exp1}
train:
  steps: 500
  global_batch_size: 128
  grad_accum_steps: 2
optimizer:
  name: adamw
  lr: 3e-4
  weight_decay: 0
model:
  hidden: [64, 32]
data:
  name: synthetic
  eval_fraction: 0.25
)");
  EXPECT_EQ(c.run().name(), "exp1");
  EXPECT_EQ(c.train().steps(), 500);
  EXPECT_EQ(c.train().grad_accum_steps(), 2);
  EXPECT_EQ(c.optimizer().name(), "adamw");
  EXPECT_EQ(c.optimizer().lr(), 3e-4);
  EXPECT_EQ(c.optimizer().weight_decay(), 0.0);
  ASSERT_EQ(c.model().hidden_size(), 2);
  EXPECT_EQ(c.model().hidden(0), 64);
  EXPECT_EQ(c.model().hidden(1), 32);
  EXPECT_EQ(c.data().name(), "synthetic");
  EXPECT_EQ(c.data().eval_fraction(), 0.25);
  EXPECT_EQ(c.train().epochs(), 1);  // untouched keys keep their defaults
}

TEST_F(LoaderTest, NullValueMeansDefault) {
  const JobConfig c = parse("train:\n  steps:\noptimizer:\n");
  EXPECT_FALSE(c.train().has_steps());
  EXPECT_EQ(c.optimizer().name(), "sgd");
}

TEST_F(LoaderTest, ScalarForRepeatedFieldIsOneElementList) {
  const JobConfig c = parse("model: {hidden: 128}");
  ASSERT_EQ(c.model().hidden_size(), 1);
  EXPECT_EQ(c.model().hidden(0), 128);
}

TEST_F(LoaderTest, LoadsFileAndNamesItInErrors) {
  TempDir dir;
  const std::string good = dir.write("good.yaml", "train: {steps: 7}\n");
  EXPECT_EQ(loadJobConfig(good).train().steps(), 7);
  const std::string bad = dir.write("bad.yaml", "train:\n  steps: 1\n  epochs: [1,\n");
  const std::string msg = configError([&] { loadJobConfig(bad); });
  EXPECT_THAT(msg, HasSubstr(bad + ":"));
  EXPECT_THAT(msg, HasSubstr("malformed YAML: "));
}

TEST_F(LoaderTest, MalformedYamlGivesLineAndColumn) {
  const std::string msg = configError([&] { parse("train:\n  steps: 1\n   epochs: 2\n"); });
  EXPECT_THAT(msg, ::testing::MatchesRegex("test\\.yaml:3:[0-9]+: malformed YAML: .+"));
}

TEST_F(LoaderTest, MissingFile) {
  EXPECT_EQ(configError([] { loadJobConfig("no/such.yaml"); }),
            "config file 'no/such.yaml' not found");
}

TEST_F(LoaderTest, DirectoryIsNotAConfig) {
  TempDir dir;
  EXPECT_THAT(configError([&] { loadJobConfig(dir.path().string()); }),
              HasSubstr("is a directory"));
}

TEST_F(LoaderTest, TopLevelMustBeAMap) {
  EXPECT_EQ(configError([&] { parse("- a\n- b\n"); }),
            "test.yaml:1:1: the config must be a map of keys at the top level (got a list)");
  EXPECT_THAT(configError([&] { parse("hello\n"); }), HasSubstr("(got 'hello')"));
}

TEST_F(LoaderTest, UnknownKeySuggestsClosestAndListsKnown) {
  const std::string msg = configError([&] { parse("train:\n  stpes: 10\n"); });
  EXPECT_EQ(msg,
            "test.yaml:2:3: unknown config key 'train.stpes': did you mean 'train.steps'? "
            "(keys in train: steps, epochs, global_batch_size, grad_accum_steps, seed, "
            "log_every, eval_every, profile, profile_trace, cuda_graph)");
}

TEST_F(LoaderTest, UnknownTopLevelKeyWithoutCloseMatch) {
  const std::string msg = configError([&] { parse("trainer: {}\nfoo: 1\n"); });
  EXPECT_THAT(msg, HasSubstr("unknown config key 'trainer'"));
  EXPECT_THAT(msg, HasSubstr("did you mean 'train'?"));
  const std::string far = configError([&] { parse("completely_different: 1\n"); });
  EXPECT_THAT(far, HasSubstr("unknown config key 'completely_different' (top-level keys: run, "
                             "train, optimizer, scheduler, model, data, dist, output, "
                             "checkpoint, resume, precision, amp)"));
  EXPECT_THAT(far, ::testing::Not(HasSubstr("did you mean")));
}

TEST_F(LoaderTest, DuplicateKey) {
  EXPECT_THAT(configError([&] { parse("train:\n  steps: 1\n  steps: 2\n"); }),
              HasSubstr("test.yaml:3:3: duplicate config key 'train.steps'"));
}

TEST_F(LoaderTest, WrongScalarTypes) {
  EXPECT_EQ(configError([&] { parse("train:\n  steps: ten\n"); }),
            "test.yaml:2:10: train.steps must be an integer (got 'ten')");
  EXPECT_THAT(configError([&] { parse("train: {steps: 1.5}"); }),
              HasSubstr("train.steps must be an integer (got '1.5')"));
  EXPECT_THAT(configError([&] { parse("train: {steps: 99999999999999999999}"); }),
              HasSubstr("train.steps must be an integer"));
  EXPECT_THAT(configError([&] { parse("train: {steps: \"10\"}"); }),
              HasSubstr("train.steps must be an integer (got the quoted string '10'; remove "
                        "the quotes)"));
  EXPECT_THAT(configError([&] { parse("optimizer: {lr: fast}"); }),
              HasSubstr("optimizer.lr must be a number (got 'fast')"));
  EXPECT_THAT(configError([&] { parse("optimizer: {lr: .nan}"); }),
              HasSubstr("optimizer.lr must be a number (got '.nan')"));
}

TEST_F(LoaderTest, MapWhereScalarExpectedAndViceVersa) {
  EXPECT_THAT(configError([&] { parse("train: 5\n"); }),
              HasSubstr("train must be a map of keys (got '5')"));
  EXPECT_THAT(configError([&] { parse("train: [1, 2]\n"); }),
              HasSubstr("train must be a map of keys (got a list)"));
  EXPECT_THAT(configError([&] { parse("optimizer: {name: {a: 1}}"); }),
              HasSubstr("optimizer.name must be a string (got a map)"));
  EXPECT_THAT(configError([&] { parse("train: {steps: [1]}"); }),
              HasSubstr("train.steps must be an integer (got a list)"));
  EXPECT_THAT(configError([&] { parse("model: {hidden: {a: 1}}"); }),
              HasSubstr("model.hidden must be a list of values (got a map)"));
  EXPECT_THAT(configError([&] { parse("model: {hidden: [64, x]}"); }),
              HasSubstr("model.hidden[1] must be an integer (got 'x')"));
}

// The schema has no bool, int32, uint64 or enum field yet; the walk must handle them when it
// does, so exercise it on protobuf's own descriptor messages.
TEST(YamlToProtoTest, OtherScalarTypes) {
  const internal::YamlOrigin origin{"t.yaml", ""};
  google::protobuf::FileOptions file_options;
  internal::mergeYaml(YAML::Load("java_multiple_files: yes\noptimize_for: CODE_SIZE\n"),
                      &file_options, "", origin);
  EXPECT_TRUE(file_options.java_multiple_files());
  EXPECT_EQ(file_options.optimize_for(), google::protobuf::FileOptions::CODE_SIZE);
  EXPECT_THAT(configError([&] {
                internal::mergeYaml(YAML::Load("java_multiple_files: maybe"), &file_options, "",
                                    origin);
              }),
              HasSubstr("java_multiple_files must be true or false (got 'maybe')"));
  EXPECT_THAT(configError([&] {
                internal::mergeYaml(YAML::Load("optimize_for: FAST"), &file_options, "", origin);
              }),
              HasSubstr("optimize_for must be one of SPEED, CODE_SIZE, LITE_RUNTIME"));

  google::protobuf::FieldDescriptorProto field;
  internal::mergeYaml(YAML::Load("number: -7"), &field, "", origin);
  EXPECT_EQ(field.number(), -7);
  EXPECT_THAT(configError([&] {
                internal::mergeYaml(YAML::Load("number: 3000000000"), &field, "", origin);
              }),
              HasSubstr("number must be an integer between -2147483648 and 2147483647"));

  google::protobuf::UninterpretedOption option;
  internal::mergeYaml(YAML::Load("positive_int_value: 18446744073709551615"), &option, "", origin);
  EXPECT_EQ(option.positive_int_value(), UINT64_MAX);
  EXPECT_THAT(configError([&] {
                internal::mergeYaml(YAML::Load("positive_int_value: -1"), &option, "", origin);
              }),
              HasSubstr("positive_int_value must be a non-negative integer (got '-1')"));
}

}  // namespace
}  // namespace trainrun::config::testing
