// FusedAdamW: torch::optim::AdamW whose step is ATen's fused multi-tensor kernel.
#pragma once

#include <torch/torch.h>

#include <unordered_map>
#include <utility>
#include <vector>

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

  // The same update with nothing read from or counted on the host, so a CUDA graph can
  // capture it: the learning rate is the fp32 () tensor `lr` on the parameters' device (each
  // group's lr option is ignored), and where `found_inf` (fp32 (), optional) is 1 the step
  // leaves parameters, moments and step counts as they were (a skipped fp16 step). The host's
  // step counts fall behind; pullStepCounts() brings them up to date. Error unless every
  // group takes the fused path.
  void stepOnDevice(const torch::Tensor& lr, const torch::Tensor& found_inf);
  // Copies each parameter's device step count into its state (a sync): before the state is
  // read (a checkpoint) after steps taken by stepOnDevice.
  void pullStepCounts();

 private:
  struct GroupTensors {
    std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
  };
  // Every group fusable: one device and dtype per group, no amsgrad.
  bool allFusable();
  // The group's parameters with a gradient and their state (created on first use); the host
  // step counts move by one when `count_on_host`.
  GroupTensors gather(torch::optim::OptimizerParamGroup& group, bool count_on_host);

  // Per parameter: the fused kernel's step counter (fp32, on the parameter's device; one
  // multi-tensor add counts every step) and the host count it holds, refilled when the
  // host's step moved without it (a restore).
  std::unordered_map<void*, std::pair<torch::Tensor, int64_t>> device_steps_;
};

}  // namespace trainrun
