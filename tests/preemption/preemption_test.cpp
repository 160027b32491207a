// Tests of the ranks' stop-step agreement on a preemption notice, through a real store.
#include "preemption/preemption.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "core/file.h"
#include "support/scoped_env.h"
#include "support/temp_dir.h"

namespace trainrun {
namespace {

constexpr std::chrono::seconds kTimeout{10};

// Two ranks' contexts on one hosted store, and a notice file named in the environment.
class PreemptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.set("TRAINRUN_PREEMPT_FILE", path_);
    host_ = Store::host(0, kTimeout);
    for (int r = 0; r < 2; ++r) {
      ranks_[r].rank = r;
      ranks_[r].world_size = 2;
      ranks_[r].store = Store::connect("127.0.0.1", host_->port(), kTimeout);
    }
  }
  void announce(bool save) {
    writeFileAtomic(path_, formatPreemptNotice(PreemptNotice{
                               std::chrono::system_clock::now() + kTimeout, "SIGTERM", save}));
  }

  testing::TempDir dir_{"preemption_test"};
  const std::string path_ = dir_.str() + "/notice";
  testing::ScopedEnv env_;
  std::unique_ptr<Store> host_;
  DistContext ranks_[2];
};

TEST_F(PreemptionTest, RanksThatSawTheNoticeAtDifferentStepsStopAfterTheSameOne) {
  Preemption p0(ranks_[0], nullptr), p1(ranks_[1], nullptr);
  EXPECT_FALSE(p0.stopAfter(4));
  EXPECT_FALSE(p1.stopAfter(4));
  EXPECT_FALSE(p1.stopAfter(5));  // rank 1 passed step 5 before the notice came
  announce(/*save=*/true);
  EXPECT_FALSE(p0.stopAfter(5));  // rank 0 sees it after step 5 ...
  EXPECT_FALSE(p1.stopAfter(6));  // ... rank 1 after step 6
  EXPECT_FALSE(p0.stopAfter(6));  // rank 0 learns that rank 1 saw it at 6: stop after 7
  EXPECT_TRUE(p1.stopAfter(7));
  EXPECT_TRUE(p0.stopAfter(7));
}

TEST_F(PreemptionTest, WithoutASaveEachRankStopsAtOnce) {
  Preemption p0(ranks_[0], nullptr), p1(ranks_[1], nullptr);
  announce(/*save=*/false);
  EXPECT_TRUE(p0.stopAfter(3));
  EXPECT_TRUE(p1.stopAfter(4));
}

TEST_F(PreemptionTest, NothingHappensWithoutANoticeFile) {
  ::unsetenv("TRAINRUN_PREEMPT_FILE");
  Preemption p0(ranks_[0], nullptr);
  announce(/*save=*/true);
  EXPECT_FALSE(p0.stopAfter(1));
}

}  // namespace
}  // namespace trainrun
