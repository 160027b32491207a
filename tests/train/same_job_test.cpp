// Every rank runs rank 0's job: a build, a config key, an input file's bytes or a run name that
// differ are one line naming them; outputs and where a node keeps its local files may differ;
// over a real store, the rank that differs fails with that line and a matching one passes.
#include "train/same_job.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "core/error.h"
#include "distributed/init.h"
#include "store/store.h"

namespace trainrun {
namespace {

using ::testing::HasSubstr;

constexpr std::chrono::seconds kTimeout{10};

config::JobConfig job(const std::vector<std::string>& overrides = {}) {
  // Merged, not validated: the paths below need not exist.
  return config::mergeJobConfig("model: {name: mlp}\ndata: {name: digits}\n", overrides, "test");
}

DataDigest data(const std::string& path, const std::string& sha) {
  return DataDigest{{InputFile{"data", path, sha, 10}}, sha};
}

const DataDigest kData = data("/data/digits.csv.gz", std::string(64, 'a'));
const std::string kBuild = "0.9.0 (git 1a2b3c)";

std::string difference(const config::JobConfig& mine, const config::JobConfig& rank0,
                       const DataDigest& my_data = kData, const std::string& my_run = "r") {
  return jobDifference(describeJob(kBuild, my_run, mine, my_data),
                       describeJob(kBuild, "r", rank0, kData));
}

TEST(SameJob, TheSameJobHasNoDifference) { EXPECT_EQ(difference(job(), job()), ""); }

TEST(SameJob, AConfigKeyThatDiffersIsNamedWithBothValues) {
  EXPECT_EQ(difference(job({"optimizer.lr=0.001"}), job({"optimizer.lr=0.1"})),
            "config differs from rank 0's at optimizer.lr: 0.001 here, 0.1 on rank 0; every "
            "node must run the same config file, --set flags and trainrun");
  EXPECT_THAT(difference(job({"model.hidden=[64,32]"}), job({"model.hidden=[256,256]"})),
              HasSubstr("at model.hidden: [64, 32] here, [256, 256] on rank 0"));
}

TEST(SameJob, OutputsAndLocalDataPathsMayDifferButNotTheBytes) {
  EXPECT_EQ(difference(job({"output.dir=/node1/out"}), job({"output.dir=/out"})), "");
  EXPECT_EQ(difference(job({"data.path=/mnt/nvme/digits.csv.gz"}), job(),
                       data("/mnt/nvme/digits.csv.gz", std::string(64, 'a'))),
            "");
  EXPECT_EQ(difference(job(), job(), data("/data/digits.csv.gz", std::string(64, 'b'))),
            "input data differ from rank 0's: /data/digits.csv.gz has SHA-256 bbbbbbbbbbbb... "
            "here, aaaaaaaaaaaa... on rank 0; every node must hold the same input files: copy "
            "them again, or point every node at the same data");
  EXPECT_THAT(difference(job(), job(), DataDigest{}),
              HasSubstr("input data differ from rank 0's: 0 file(s) here, 1 on rank 0"));
}

TEST(SameJob, RemoteDataPathsAreCompared) {
  EXPECT_THAT(difference(job({"data.path=s3://corpus/new/"}), job({"data.path=s3://corpus/old/"})),
              HasSubstr("at data.path: s3://corpus/new/ here, s3://corpus/old/ on rank 0"));
}

TEST(SameJob, AnotherBuildIsNamedFirst) {
  EXPECT_EQ(jobDifference(describeJob("0.9.0 (git 4d5e6f)", "r", job({"train.seed=3"}), kData),
                          describeJob(kBuild, "r", job(), kData)),
            "trainrun 0.9.0 (git 4d5e6f) runs here, 0.9.0 (git 1a2b3c) on rank 0; run one build "
            "(one image) on every node");
}

TEST(SameJob, ARunNamedOtherwiseIsNamed) {
  EXPECT_THAT(difference(job(), job(), kData, "job-b"),
              HasSubstr("the run is named job-b here, r on rank 0"));
}

TEST(SameJob, OverTheStoreTheRankThatDiffersFailsInOneLine) {
  auto host = Store::host(0, kTimeout);
  DistContext ranks[3];
  for (int r = 0; r < 3; ++r) {
    ranks[r].rank = r;
    ranks[r].world_size = 3;
    ranks[r].store = Store::connect("127.0.0.1", host->port(), kTimeout);
  }
  checkSameJob(ranks[0], describeJob(kBuild, "r", job(), kData));
  checkSameJob(ranks[1], describeJob(kBuild, "r", job(), kData));
  try {
    checkSameJob(ranks[2], describeJob(kBuild, "r", job({"train.seed=7"}), kData));
    FAIL() << "rank 2 runs another seed";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("config differs from rank 0's at train.seed: 7 here, 0"));
  }
  DistContext alone;
  checkSameJob(alone, describeJob(kBuild, "r", job(), kData));  // no store: nothing to compare
}

}  // namespace
}  // namespace trainrun
