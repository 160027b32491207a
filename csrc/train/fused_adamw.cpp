// FusedAdamW: gathers each group's tensors and runs at::_fused_adamw_ once.
#include "train/fused_adamw.h"

#include "core/error.h"

namespace trainrun {
namespace {

bool fusable(const std::vector<torch::Tensor>& params) {
  for (const auto& p : params)
    if (p.device() != params.front().device() || p.scalar_type() != params.front().scalar_type())
      return false;
  return !params.empty();
}

}  // namespace

bool FusedAdamW::allFusable() {
  for (auto& group : param_groups()) {
    std::vector<torch::Tensor> params;
    for (auto& p : group.params())
      if (p.grad().defined()) params.push_back(p);
    if (static_cast<torch::optim::AdamWOptions&>(group.options()).amsgrad() ||
        (!params.empty() && !fusable(params)))
      return false;
  }
  return true;
}

FusedAdamW::GroupTensors FusedAdamW::gather(torch::optim::OptimizerParamGroup& group,
                                            bool count_on_host) {
  GroupTensors t;
  for (auto& p : group.params()) {
    if (!p.grad().defined()) continue;
    t.params.push_back(p);
    t.grads.push_back(p.grad());
  }
  for (auto& p : t.params) {
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
    if (held != st.step()) {  // a restore moved the host's count
      counter.fill_(double(st.step()));
      held = st.step();
    }
    if (count_on_host) {
      st.step(st.step() + 1);
      held = st.step();  // what the increment in the step leaves in `counter`
    }
    t.exp_avgs.push_back(st.exp_avg());
    t.exp_avg_sqs.push_back(st.exp_avg_sq());
    t.steps.push_back(counter);
  }
  return t;
}

torch::Tensor FusedAdamW::step(LossClosure closure) {
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  torch::NoGradGuard no_grad;
  if (!allFusable()) return torch::optim::AdamW::step();  // rare: parameter by parameter
  for (auto& group : param_groups()) {
    const GroupTensors t = gather(group, /*count_on_host=*/true);
    if (t.params.empty()) continue;
    auto& o = static_cast<torch::optim::AdamWOptions&>(group.options());
    at::_foreach_add_(t.steps, 1);  // the kernel reads the step; it does not count it
    const auto [beta1, beta2] = o.betas();
    at::_fused_adamw_(t.params, t.grads, t.exp_avgs, t.exp_avg_sqs, /*max_exp_avg_sqs=*/{}, t.steps,
                      o.lr(), beta1, beta2, o.weight_decay(), o.eps(),
                      /*amsgrad=*/false, /*maximize=*/false);
  }
  return loss;
}

void FusedAdamW::stepOnDevice(const torch::Tensor& lr, const torch::Tensor& found_inf) {
  torch::NoGradGuard no_grad;
  if (!allFusable())
    throw Error(
        "a step on the device needs every parameter group fusable (one device and "
        "dtype per group, no amsgrad)");
  for (auto& group : param_groups()) {
    const GroupTensors t = gather(group, /*count_on_host=*/false);
    if (t.params.empty()) continue;
    auto& o = static_cast<torch::optim::AdamWOptions&>(group.options());
    at::_foreach_add_(t.steps, 1);
    const auto [beta1, beta2] = o.betas();
    at::_fused_adamw_(t.params, t.grads, t.exp_avgs, t.exp_avg_sqs, /*max_exp_avg_sqs=*/{}, t.steps,
                      lr, beta1, beta2, o.weight_decay(), o.eps(), /*amsgrad=*/false,
                      /*maximize=*/false, /*grad_scale=*/std::nullopt,
                      found_inf.defined() ? std::optional<torch::Tensor>(found_inf) : std::nullopt);
    // A skipped step (found_inf = 1) left the parameters and moments alone; undo its count.
    if (found_inf.defined())
      at::_foreach_sub_(t.steps, std::vector<torch::Tensor>(t.steps.size(), found_inf));
  }
}

void FusedAdamW::pullStepCounts() {
  std::vector<std::pair<torch::optim::AdamWParamState*, int64_t*>> held;  // state, host count
  std::vector<torch::Tensor> counters;
  for (auto& [impl, entry] : device_steps_) {
    auto it = state().find(impl);
    if (it == state().end() || !entry.first.defined()) continue;
    held.emplace_back(static_cast<torch::optim::AdamWParamState*>(it->second.get()), &entry.second);
    counters.push_back(entry.first.reshape({1}));
  }
  if (counters.empty()) return;
  // One copy to the host (one sync) for every parameter's count.
  const torch::Tensor host = torch::cat(counters).to(torch::kCPU, torch::kDouble);
  const double* values = host.data_ptr<double>();
  for (size_t i = 0; i < held.size(); ++i) {
    *held[i].second = static_cast<int64_t>(values[i]);
    held[i].first->step(*held[i].second);
  }
}

}  // namespace trainrun
