// selectAttentionBackend: model.attention checked against the device, then LibTorch's SDPA flags.
#include "models/attention_backend.h"

#include <ATen/Context.h>

#include "core/error.h"

namespace trainrun {

void selectAttentionBackend(const std::string& name, const c10::Device& device,
                            Precision precision) {
  const bool all = name == "auto";
  if (!all && name != "flash" && name != "cudnn" && name != "efficient" && name != "math")
    throw ConfigError("model.attention: '" + name +
                      "' is not a backend (auto, flash, cudnn, efficient or math)");
  if (!device.is_cuda() && (name == "cudnn" || name == "efficient"))
    throw ConfigError("model.attention=" + name +
                      " runs on CUDA devices only; on the CPU use auto, flash or math");
  if (device.is_cuda() && precision == Precision::kFp32 && (name == "flash" || name == "cudnn"))
    throw ConfigError("model.attention=" + name +
                      " needs precision bf16 or fp16; with fp32 use auto, efficient or math");
  at::Context& ctx = at::globalContext();
  ctx.setSDPUseFlash(all || name == "flash");
  ctx.setSDPUseCuDNN(all || name == "cudnn");
  ctx.setSDPUseMemEfficient(all || name == "efficient");
  ctx.setSDPUseMath(all || name == "math");
}

}  // namespace trainrun
