// FusedAdamW: gathers each group's tensors and runs at::_fused_adamw_ once.
#include "train/fused_adamw.h"

namespace trainrun {
namespace {

bool fusable(const std::vector<torch::Tensor>& params) {
  for (const auto& p : params)
    if (p.device() != params.front().device() || p.scalar_type() != params.front().scalar_type())
      return false;
  return !params.empty();
}

}  // namespace

torch::Tensor FusedAdamW::step(LossClosure closure) {
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  torch::NoGradGuard no_grad;
  for (auto& group : param_groups()) {
    std::vector<torch::Tensor> params;
    for (auto& p : group.params())
      if (p.grad().defined()) params.push_back(p);
    if (static_cast<torch::optim::AdamWOptions&>(group.options()).amsgrad() ||
        (!params.empty() && !fusable(params)))
      return torch::optim::AdamW::step();  // rare groups: the reference, parameter by parameter
  }
  for (auto& group : param_groups()) {
    auto& o = static_cast<torch::optim::AdamWOptions&>(group.options());
    std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      params.push_back(p);
      grads.push_back(p.grad());
    }
    if (params.empty()) continue;
    for (auto& p : params) {
      auto& slot = state()[p.unsafeGetTensorImpl()];
      if (!slot) {
        auto st = std::make_unique<torch::optim::AdamWParamState>();
        st->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        st->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        slot = std::move(st);
      }
      auto& st = static_cast<torch::optim::AdamWParamState&>(*slot);
      auto& [counter, held] = device_steps_[p.unsafeGetTensorImpl()];
      if (!counter.defined()) {
        counter = torch::zeros({}, p.options().dtype(torch::kFloat));
        held = 0;
      }
      if (held != st.step()) counter.fill_(double(st.step()));
      st.step(st.step() + 1);
      held = st.step();  // what the increment below leaves in `counter`
      exp_avgs.push_back(st.exp_avg());
      exp_avg_sqs.push_back(st.exp_avg_sq());
      steps.push_back(counter);
    }
    at::_foreach_add_(steps, 1);  // the kernel reads the step; it does not count it
    const auto [beta1, beta2] = o.betas();
    at::_fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, /*max_exp_avg_sqs=*/{}, steps, o.lr(),
                      beta1, beta2, o.weight_decay(), o.eps(), /*amsgrad=*/false,
                      /*maximize=*/false);
  }
  return loss;
}

}  // namespace trainrun
