// Checkpoint object names: every name made parses back to what made it; others are rejected.
#include "checkpoint/layout.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace trainrun {
namespace {

TEST(Layout, StepFoldersRoundTrip) {
  EXPECT_EQ(stepDir(400), "step-00000400");
  for (int64_t step : {int64_t(0), int64_t(1), int64_t(400), int64_t(99999999), int64_t(100000000),
                       int64_t(123456789012)})
    EXPECT_EQ(parseStepDir(stepDir(step)), step) << step;
}

TEST(Layout, RejectsMalformedStepFolders) {
  for (const char* name :
       {"", "step-", "step-0000400", "step-0000040a", "step--0000001", "step-000000400",
        "Step-00000400", "step-00000400/", "latest", "step-0000000000000000000001"})
    EXPECT_EQ(parseStepDir(name), std::nullopt) << name;
}

TEST(Layout, ShardNamesRoundTrip) {
  EXPECT_EQ(shardKey(0, 2), "shard-00000-of-00002.bin");
  for (auto [rank, world] : {std::pair{0, 1}, {1, 4}, {3, 4}, {99999, 100000}})
    EXPECT_EQ(parseShardKey(shardKey(rank, world)), std::make_pair(rank, world));
}

TEST(Layout, RejectsMalformedShardNames) {
  for (const char* name :
       {"", "shard-00000-of-00002", "shard-00000-of-00002.bi", "shard-0000-of-00002.bin",
        "shard-00002-of-00002.bin", "shard-00000-of-0000x.bin", "shard-000000-of-00002.bin",
        "shard-00000-00002.bin", "manifest.pb"})
    EXPECT_EQ(parseShardKey(name), std::nullopt) << name;
}

TEST(Layout, KeysOfARun) {
  EXPECT_EQ(stepPrefix("run", 400), "run/step-00000400");
  EXPECT_EQ(manifestKey("run", 400), "run/step-00000400/manifest.pb");
  EXPECT_EQ(shardObjectKey("run", 400, 1, 2), "run/step-00000400/shard-00001-of-00002.bin");
  EXPECT_EQ(latestKey("run"), "run/latest");
  EXPECT_EQ(latestContents(400), "step-00000400\n");
  EXPECT_EQ(probeKey("run", 3, 1234), "run/.probe-rank3-1234");
}

TEST(Layout, ParsesEveryKeyItMakes) {
  auto parse = [](const std::string& key) { return parseCheckpointKey("run", key); };
  auto manifest = parse(manifestKey("run", 400));
  ASSERT_TRUE(manifest);
  EXPECT_EQ(manifest->type, CheckpointObject::kManifest);
  EXPECT_EQ(manifest->step, 400);
  auto shard = parse(shardObjectKey("run", 400, 1, 2));
  ASSERT_TRUE(shard);
  EXPECT_EQ(shard->type, CheckpointObject::kShard);
  EXPECT_EQ(shard->step, 400);
  auto latest = parse(latestKey("run"));
  ASSERT_TRUE(latest);
  EXPECT_EQ(latest->type, CheckpointObject::kLatest);
  EXPECT_EQ(latest->step, -1);
  auto probe = parse(probeKey("run", 0, 99));
  ASSERT_TRUE(probe);
  EXPECT_EQ(probe->type, CheckpointObject::kProbe);
  EXPECT_EQ(probe->step, -1);
}

TEST(Layout, ClassifiesOtherKeys) {
  auto parse = [](const std::string& key) { return parseCheckpointKey("run", key); };
  // Leftovers inside a step folder belong to that step (retention deletes them with it).
  auto leftover = parse("run/step-00000400/junk");
  ASSERT_TRUE(leftover);
  EXPECT_EQ(leftover->type, CheckpointObject::kOther);
  EXPECT_EQ(leftover->step, 400);
  // A folder that is not a step folder, even one holding a manifest, is no checkpoint.
  auto stray = parse("run/step-0400/manifest.pb");
  ASSERT_TRUE(stray);
  EXPECT_EQ(stray->type, CheckpointObject::kOther);
  EXPECT_EQ(stray->step, -1);
  EXPECT_EQ(parse("other/step-00000400/manifest.pb"), std::nullopt);
  EXPECT_EQ(parse("runner/step-00000400/manifest.pb"), std::nullopt);
  EXPECT_EQ(parse("run/"), std::nullopt);
}

TEST(Layout, SplitsACheckpointUri) {
  EXPECT_EQ(splitCheckpointUri("s3://bucket/prefix/run/step-00000100/"),
            std::make_pair(std::string("s3://bucket/prefix"), std::string("run/step-00000100")));
  EXPECT_EQ(splitCheckpointUri("/ckpt/run/step-00000100"),
            std::make_pair(std::string("/ckpt"), std::string("run/step-00000100")));
  EXPECT_THROW(splitCheckpointUri("step-00000100"), ConfigError);
  EXPECT_THROW(splitCheckpointUri("s3://bucket/step-00000100"), ConfigError);
}

}  // namespace
}  // namespace trainrun
