// model.attention: the kernel behind every scaled_dot_product_attention call of the process.
#pragma once

#include <torch/torch.h>

#include <string>

#include "amp/precision.h"

namespace trainrun {

// Enables only the named SDPA backend for this process (auto: all of them, PyTorch's choice
// per call), after checking that it can run here: cudnn and efficient need a CUDA device,
// flash and cudnn on CUDA need fp16 or bf16. Throws ConfigError naming the setting otherwise,
// before any step. The choice is process-wide (LibTorch's global context), as the trainer's
// training and evaluation passes both want it.
void selectAttentionBackend(const std::string& name, const c10::Device& device,
                            Precision precision);

}  // namespace trainrun
