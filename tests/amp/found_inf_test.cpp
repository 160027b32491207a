// agreeFoundInf over real Gloo communicators, ranks as threads of this process.
#include "amp/found_inf.h"

#include <gtest/gtest.h>

#include <atomic>

#include "dist/thread_ranks.h"

namespace trainrun {
namespace {

TEST(AgreeFoundInf, InfOnRankOneOnlyMakesEveryRankSkip) {
  std::atomic<int> agreed{0};
  testing::runRanks(2, [&](int rank, Communicator& comm) {
    if (agreeFoundInf(&comm, /*local_found_inf=*/rank == 1, std::chrono::seconds(30))) ++agreed;
  });
  EXPECT_EQ(agreed.load(), 2);
}

TEST(AgreeFoundInf, NoRankFoundInfMeansNoSkip) {
  std::atomic<int> agreed{0};
  testing::runRanks(2, [&](int, Communicator& comm) {
    if (agreeFoundInf(&comm, false, std::chrono::seconds(30))) ++agreed;
  });
  EXPECT_EQ(agreed.load(), 0);
}

TEST(AgreeFoundInf, WithoutCommunicatorIsLocal) {
  EXPECT_TRUE(agreeFoundInf(nullptr, true));
  EXPECT_FALSE(agreeFoundInf(nullptr, false));
}

}  // namespace
}  // namespace trainrun
