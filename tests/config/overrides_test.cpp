// --set overrides: nested keys, YAML-typed values, lists, order, and their error messages.
#include "test_util.h"

namespace trainrun::config::testing {
namespace {

using ::testing::HasSubstr;
using OverridesTest = ConfigTest;

TEST_F(OverridesTest, NestedScalarsOfEachType) {
  const JobConfig c = parse("train: {steps: 10}\n", {"train.steps=200", "optimizer.lr=0.05",
                                                     "optimizer.name=adamw", "run.name=abc"});
  EXPECT_EQ(c.train().steps(), 200);
  EXPECT_EQ(c.optimizer().lr(), 0.05);
  EXPECT_EQ(c.optimizer().name(), "adamw");
  EXPECT_EQ(c.run().name(), "abc");
}

TEST_F(OverridesTest, ListsReplaceAndScalarIsOneElement) {
  const std::string yaml = "model: {hidden: [512, 512, 512]}\n";
  EXPECT_THAT(parse(yaml, {"model.hidden=[64,32]"}).model().hidden(),
              ::testing::ElementsAre(64, 32));
  EXPECT_THAT(parse(yaml, {"model.hidden=16"}).model().hidden(), ::testing::ElementsAre(16));
  EXPECT_TRUE(parse(yaml, {"model.hidden=[]"}).model().hidden().empty());
}

TEST_F(OverridesTest, MapValueMergesIntoSection) {
  const JobConfig c = parse("train: {steps: 10, epochs: 3}\n", {"train={steps: 5, seed: 9}"});
  EXPECT_EQ(c.train().steps(), 5);
  EXPECT_EQ(c.train().seed(), 9);
  EXPECT_EQ(c.train().epochs(), 3);
}

TEST_F(OverridesTest, LaterOverrideWinsAndEmptyValueResets) {
  EXPECT_EQ(parse("", {"train.steps=1", "train.steps=2"}).train().steps(), 2);
  const JobConfig c = parse("train: {steps: 10}\n", {"train.steps="});
  EXPECT_FALSE(c.train().has_steps());
  EXPECT_EQ(c.train().steps(), 0);
}

TEST_F(OverridesTest, ValueMayContainEquals) {
  EXPECT_EQ(parse("", {"run.name=a=b"}).run().name(), "a=b");
}

TEST_F(OverridesTest, BadSyntax) {
  for (const std::string bad :
       {"foo", "=5", ".steps=1", "train.=1", "train..steps=1", "train. steps=1"}) {
    EXPECT_EQ(configError([&] { parse("", {bad}); }),
              "--set expects key=value, e.g. train.steps=100 (got '" + bad + "')");
  }
}

TEST_F(OverridesTest, UnknownKeyNamesTheFlag) {
  EXPECT_EQ(configError([&] { parse("", {"train.stpes=5"}); }),
            "--set train.stpes=5: unknown config key 'train.stpes': did you mean "
            "'train.steps'? (keys in train: steps, epochs, global_batch_size, "
            "grad_accum_steps, seed, log_every, eval_every, profile, profile_trace, cuda_graph)");
  EXPECT_THAT(configError([&] { parse("", {"nope.x=1"}); }),
              HasSubstr("unknown config key 'nope'"));
  EXPECT_THAT(configError([&] { parse("", {"model.hidden.x=1"}); }),
              HasSubstr("model.hidden must be a list of values (got a map)"));
  EXPECT_THAT(configError([&] { parse("", {"train.steps.x=1"}); }),
              HasSubstr("train.steps must be an integer (got a map)"));
}

TEST_F(OverridesTest, WrongTypeNamesTheFlag) {
  EXPECT_EQ(configError([&] { parse("", {"train.steps=ten"}); }),
            "--set train.steps=ten: train.steps must be an integer (got 'ten')");
  EXPECT_EQ(configError([&] { parse("", {"model.hidden=[64,x]"}); }),
            "--set model.hidden=[64,x]: model.hidden[1] must be an integer (got 'x')");
}

TEST_F(OverridesTest, MalformedValue) {
  EXPECT_THAT(configError([&] { parse("", {"model.hidden=[64,"}); }),
              HasSubstr("--set model.hidden=[64,: malformed YAML value: "));
}

TEST_F(OverridesTest, OverridesAreValidated) {
  EXPECT_EQ(configError([&] { parse("", {"optimizer.name=adam"}); }),
            "optimizer.name must be one of sgd, adamw (got 'adam'); did you mean 'adamw'?");
}

}  // namespace
}  // namespace trainrun::config::testing
