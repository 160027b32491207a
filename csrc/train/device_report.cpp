// Device name, CUDA/NCCL/cuDNN versions and peak TFLOPS for the start-up line and MFU.
#include "train/device_report.h"

#include <ATen/detail/CUDAHooksInterface.h>

#include <cstdlib>

#if TRAINRUN_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include "core/cuda_devices.h"
#include "core/env.h"
#include "core/error.h"
#include "distributed/init.h"

namespace trainrun {
namespace {

struct Peak {
  const char* name_part;  // matched as a substring of the device name, first match wins
  double half;            // fp16/bf16 dense, Tensor Cores
  double fp32;            // fp32 without TF32 (LibTorch's default for matmuls)
};
// Vendor data sheets, dense (no sparsity), per GPU.
constexpr Peak kPeaks[] = {
    {"H200", 989.4, 66.9}, {"H100 PCIe", 756.0, 51.2}, {"H100 NVL", 835.5, 60.0},
    {"H100", 989.4, 66.9}, {"A100", 312.0, 19.5},
};

std::string cudnnVersion() {
  try {
    const auto& hooks = at::detail::getCUDAHooks();
    if (!hooks.hasCuDNN()) return "";
    return std::to_string(hooks.versionCuDNN());
  } catch (const std::exception&) {
    return "";  // a LibTorch without CUDA
  }
}

}  // namespace

double peakTflops(const std::string& device_name, Precision precision) {
  if (const std::string text = env::get(env::kPeakTflops); !text.empty()) {
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (*end != '\0' || !(value > 0))
      throw ConfigError(std::string(env::kPeakTflops) + "='" + text +
                        "' is not a positive number of TFLOPS (unset it or give e.g. 989.4)");
    return value;
  }
  for (const Peak& p : kPeaks)
    if (device_name.find(p.name_part) != std::string::npos)
      return precision == Precision::kFp32 ? p.fp32 : p.half;
  return 0;
}

DeviceReport describeDevice(const torch::Device& device, Precision precision) {
  DeviceReport r;
  if (device.is_cuda()) {
    r.name = cudaDeviceName(device.has_index() ? device.index() : 0);
    r.cuda = cudaRuntimeVersion();
    r.nccl = ncclVersion();
    r.cudnn = cudnnVersion();
  } else {
    r.name = device.str();
  }
  r.peak_tflops = peakTflops(r.name, precision);
  return r;
}

int64_t peakMemoryBytes(const torch::Device& device) {
#if TRAINRUN_WITH_CUDA
  if (!device.is_cuda()) return 0;
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
  return stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)]
      .peak;
#else
  (void)device;
  return 0;
#endif
}

}  // namespace trainrun
