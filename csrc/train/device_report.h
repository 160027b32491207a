// The device a rank trains on, as the worker logs it at start-up, and its peak for MFU.
#pragma once

#include <torch/torch.h>

#include <string>

#include "amp/precision.h"

namespace trainrun {

struct DeviceReport {
  std::string name;   // "cpu", or the CUDA device's name
  std::string cuda;   // CUDA runtime version; "" on CPU
  std::string nccl;   // NCCL version; "" in builds without NCCL
  std::string cudnn;  // cuDNN version LibTorch uses; "" without
  // Dense peak TFLOPS at the run's precision; 0 when unknown (then no MFU is reported).
  double peak_tflops = 0;
};

// Peak dense TFLOPS of a device at `precision`: TRAINRUN_PEAK_TFLOPS when set, else a table
// of data-center GPUs (H100, H200, A100; fp16/bf16 on Tensor Cores, fp32 without TF32); else 0.
// Throws ConfigError when TRAINRUN_PEAK_TFLOPS is not a positive number.
double peakTflops(const std::string& device_name, Precision precision);

DeviceReport describeDevice(const torch::Device& device, Precision precision);

// Peak bytes LibTorch's caching allocator has held on `device` (0 on the CPU).
int64_t peakMemoryBytes(const torch::Device& device);

}  // namespace trainrun
