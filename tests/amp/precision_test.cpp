// Precision parsing and its autocast dtype.
#include "amp/precision.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace trainrun {
namespace {

TEST(Precision, ParsesNamesAndAliases) {
  EXPECT_EQ(parsePrecision("fp32"), Precision::kFp32);
  EXPECT_EQ(parsePrecision("Float32"), Precision::kFp32);
  EXPECT_EQ(parsePrecision("fp16"), Precision::kFp16);
  EXPECT_EQ(parsePrecision("half"), Precision::kFp16);
  EXPECT_EQ(parsePrecision("BF16"), Precision::kBf16);
  EXPECT_EQ(parsePrecision("bfloat16"), Precision::kBf16);
  EXPECT_THROW(parsePrecision("fp8"), ConfigError);
}

TEST(Precision, AutocastDtypeAndScaling) {
  EXPECT_EQ(autocastDtype(Precision::kFp16), torch::kHalf);
  EXPECT_EQ(autocastDtype(Precision::kBf16), torch::kBFloat16);
  EXPECT_EQ(autocastDtype(Precision::kFp32), torch::kFloat);
  EXPECT_FALSE(autocastEnabled(Precision::kFp32));
  EXPECT_TRUE(needsLossScaling(Precision::kFp16));
  EXPECT_FALSE(needsLossScaling(Precision::kBf16));
  EXPECT_STREQ(precisionName(parsePrecision("bf16")), "bf16");
}

}  // namespace
}  // namespace trainrun
