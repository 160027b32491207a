// Bucket assignment: reverse order, small first bucket, caps, dtype boundaries.
#include "ddp/bucket.h"

#include <gtest/gtest.h>

namespace trainrun {
namespace {

std::vector<torch::Tensor> floats(std::vector<int64_t> numels) {
  std::vector<torch::Tensor> v;
  for (int64_t n : numels) v.push_back(torch::zeros({n}));
  return v;
}

TEST(AssignBuckets, ReverseOrderWithSmallFirstBucket) {
  // 4-byte floats: first cap 40 bytes (10 floats), later caps 80 bytes (20 floats).
  auto b = assignBuckets(floats({8, 8, 8, 8, 8}), 40, 80);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0], (std::vector<size_t>{4, 3}));     // 64 bytes >= 40 closes it
  EXPECT_EQ(b[1], (std::vector<size_t>{2, 1, 0}));  // 96 bytes >= 80
}

TEST(AssignBuckets, OneBucketWhenEverythingFits) {
  auto b = assignBuckets(floats({3, 4, 5}), 1 << 20, 25 << 20);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0], (std::vector<size_t>{2, 1, 0}));
}

TEST(AssignBuckets, LargeParameterGetsItsOwnBucket) {
  auto b = assignBuckets(floats({1000, 2, 2}), 16, 16);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0], (std::vector<size_t>{2, 1}));
  EXPECT_EQ(b[1], (std::vector<size_t>{0}));
}

TEST(AssignBuckets, DtypeChangeClosesBucket) {
  std::vector<torch::Tensor> p{torch::zeros({2}), torch::zeros({2}, torch::kFloat64),
                               torch::zeros({2})};
  auto b = assignBuckets(p, 1 << 20, 1 << 20);
  ASSERT_EQ(b.size(), 3u);
}

}  // namespace
}  // namespace trainrun
