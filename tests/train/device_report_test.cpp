// Device report: peak TFLOPS by device name and precision, the environment override, CPU.
#include "train/device_report.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "core/error.h"

namespace trainrun {
namespace {

// Sets TRAINRUN_PEAK_TFLOPS for one test and restores it after.
class PeakEnv {
 public:
  PeakEnv() {
    if (const char* v = std::getenv("TRAINRUN_PEAK_TFLOPS")) saved_ = v;
    ::unsetenv("TRAINRUN_PEAK_TFLOPS");
  }
  ~PeakEnv() {
    if (saved_.empty()) {
      ::unsetenv("TRAINRUN_PEAK_TFLOPS");
    } else {
      ::setenv("TRAINRUN_PEAK_TFLOPS", saved_.c_str(), 1);
    }
  }
  void set(const char* value) { ::setenv("TRAINRUN_PEAK_TFLOPS", value, 1); }

 private:
  std::string saved_;
};

TEST(PeakTflops, KnownGpusByNameAndPrecision) {
  PeakEnv env;
  EXPECT_DOUBLE_EQ(peakTflops("NVIDIA H100 80GB HBM3", Precision::kBf16), 989.4);
  EXPECT_DOUBLE_EQ(peakTflops("NVIDIA H100 80GB HBM3", Precision::kFp16), 989.4);
  EXPECT_DOUBLE_EQ(peakTflops("NVIDIA H100 80GB HBM3", Precision::kFp32), 66.9);
  EXPECT_DOUBLE_EQ(peakTflops("NVIDIA H100 PCIe", Precision::kFp16), 756.0);
  EXPECT_DOUBLE_EQ(peakTflops("NVIDIA H100 NVL", Precision::kBf16), 835.5);  // not the SXM's
  EXPECT_DOUBLE_EQ(peakTflops("NVIDIA H200", Precision::kBf16), 989.4);
  EXPECT_DOUBLE_EQ(peakTflops("NVIDIA A100-SXM4-80GB", Precision::kFp32), 19.5);
  EXPECT_EQ(peakTflops("Tesla T4", Precision::kFp16), 0);  // unknown: no MFU
  EXPECT_EQ(peakTflops("cpu", Precision::kFp32), 0);
}

TEST(PeakTflops, EnvironmentOverridesAndIsValidated) {
  PeakEnv env;
  env.set("123.5");
  EXPECT_DOUBLE_EQ(peakTflops("cpu", Precision::kFp32), 123.5);
  EXPECT_DOUBLE_EQ(peakTflops("NVIDIA H100 80GB HBM3", Precision::kBf16), 123.5);
  for (const char* bad : {"abc", "-1", "0", "12x"}) {
    env.set(bad);
    EXPECT_THROW(peakTflops("cpu", Precision::kFp32), ConfigError) << bad;
  }
}

TEST(DescribeDevice, CpuHasNoGpuVersionsAndNoPeak) {
  PeakEnv env;
  DeviceReport r = describeDevice(torch::kCPU, Precision::kBf16);
  EXPECT_EQ(r.name, "cpu");
  EXPECT_EQ(r.cuda, "");
  EXPECT_EQ(r.nccl, "");
  EXPECT_EQ(r.peak_tflops, 0);
}

}  // namespace
}  // namespace trainrun
