// FusedAdamW: torch::optim::AdamW whose step is ATen's fused multi-tensor kernel.
#pragma once

#include <torch/torch.h>

#include <unordered_map>
#include <utility>

namespace trainrun {

// The same update as torch::optim::AdamW (decoupled weight decay, bias correction, eps outside
// the square root), with the same per-parameter state (AdamWParamState: step, exp_avg,
// exp_avg_sq), so checkpoints and restoreState() see no difference. The step is one
// at::_fused_adamw_ call per parameter group instead of about ten kernels per parameter, as
// torch.optim.AdamW(fused=True): on a GPU the per-parameter loop costs a launch-bound
// millisecond or more per step for a GPT-2-sized model. Groups with parameters on several
// devices or of several dtypes, or amsgrad, take the per-parameter path.
class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  torch::Tensor step(LossClosure closure = nullptr) override;

 private:
  // Per parameter: the fused kernel's step counter (fp32, on the parameter's device; one
  // multi-tensor add counts every step) and the host count it holds, refilled when the
  // host's step moved without it (a restore).
  std::unordered_map<void*, std::pair<torch::Tensor, int64_t>> device_steps_;
};

}  // namespace trainrun
