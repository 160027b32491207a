// Tests of the ranks' stop-step agreement on a preemption notice, through a real store.
#include "train/preemption.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "core/file.h"

namespace trainrun {
namespace {

constexpr std::chrono::seconds kTimeout{10};

// Two ranks' contexts on one hosted store, and a notice file named in the environment.
class PreemptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/preemption_test_XXXXXX";
    dir_ = ::mkdtemp(name);
    path_ = dir_ + "/notice";
    ::setenv("TRAINRUN_PREEMPT_FILE", path_.c_str(), 1);
    host_ = Store::host(0, kTimeout);
    for (int r = 0; r < 2; ++r) {
      ranks_[r].rank = r;
      ranks_[r].world_size = 2;
      ranks_[r].store = Store::connect("127.0.0.1", host_->port(), kTimeout);
    }
  }
  void TearDown() override {
    ::unsetenv("TRAINRUN_PREEMPT_FILE");
    std::filesystem::remove_all(dir_);
  }
  void announce(bool save) {
    writeFileAtomic(path_, formatPreemptNotice(PreemptNotice{
                               std::chrono::system_clock::now() + kTimeout, "SIGTERM", save}));
  }

  std::string dir_, path_;
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
