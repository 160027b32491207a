// gatherRows onto a GPU: host data, host indices, a pinned staging copy, the batch on the device.
#include <gtest/gtest.h>

#include "data/dataset.h"

namespace trainrun {
namespace {

TEST(GatherRowsGpu, BatchLandsOnTheDeviceAndMatchesTheHostGather) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible";
  torch::Tensor source = torch::randn({64, 5});                // (N, F) on the host
  torch::Tensor index = torch::randperm(64).narrow(0, 0, 16);  // (b,) on the host
  torch::Tensor rows = gatherRows(source, index, torch::Device(torch::kCUDA, 0));
  ASSERT_TRUE(rows.is_cuda());
  EXPECT_TRUE(torch::equal(rows.cpu(), source.index_select(0, index)));
}

}  // namespace
}  // namespace trainrun
