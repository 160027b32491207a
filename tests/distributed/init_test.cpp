// Joining a job: which GPU a rank takes, and store key prefixes unique per restart.
#include "distributed/init.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace trainrun {
namespace {

TEST(CudaDeviceForRank, NoGpuMeansCpu) {
  EXPECT_EQ(cudaDeviceForRank(0, 0), -1);
  EXPECT_EQ(cudaDeviceForRank(3, 0), -1);
}

TEST(CudaDeviceForRank, OneVisibleGpuIsEveryRanksGpu) {
  // Slurm / Kubernetes / CUDA_VISIBLE_DEVICES=<one id> per rank: LOCAL_RANK=1 still gets 0.
  EXPECT_EQ(cudaDeviceForRank(0, 1), 0);
  EXPECT_EQ(cudaDeviceForRank(1, 1), 0);
  EXPECT_EQ(cudaDeviceForRank(7, 1), 0);
}

TEST(CudaDeviceForRank, SeveralVisibleGpusGoByLocalRank) {
  EXPECT_EQ(cudaDeviceForRank(0, 8), 0);
  EXPECT_EQ(cudaDeviceForRank(5, 8), 5);
}

TEST(CudaDeviceForRank, LocalRankWithoutItsOwnGpuIsAOneLineError) {
  try {
    cudaDeviceForRank(4, 2);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("LOCAL_RANK=4"), std::string::npos) << msg;
    EXPECT_NE(msg.find("only 2 GPUs"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace trainrun
