// DeviceLossScaler: GradScaler's unscale and update kernels over state kept on the device.
#include "amp/device_loss_scaler.h"

namespace trainrun {

DeviceLossScaler::DeviceLossScaler(const LossScaler& host, torch::Device device)
    : options_(host.options()) {
  const LossScalerState s = host.state();
  const auto on = torch::TensorOptions().device(device);
  scale_ = torch::full({}, double(s.scale), on.dtype(torch::kFloat));
  growth_tracker_ = torch::full({}, s.growth_tracker, on.dtype(torch::kInt));
  found_inf_ = torch::zeros({}, on.dtype(torch::kFloat));
  skipped_ = torch::full({}, double(s.skipped_steps), on.dtype(torch::kDouble));
}

torch::Tensor DeviceLossScaler::scale(const torch::Tensor& loss) const {
  if (!options_.enabled) return loss;
  return loss * scale_.to(loss.scalar_type());
}

void DeviceLossScaler::unscaleAndCheck(const std::vector<torch::Tensor>& grads) {
  found_inf_.zero_();
  if (!options_.enabled) return;
  std::vector<torch::Tensor> defined;
  for (const auto& g : grads)
    if (g.defined()) defined.push_back(g);
  // GradScaler's reciprocal: in double, then rounded to fp32 once (as LossScaler's).
  const torch::Tensor inv_scale = scale_.to(torch::kDouble).reciprocal().to(torch::kFloat);
  if (!defined.empty())
    at::_amp_foreach_non_finite_check_and_unscale_(defined, found_inf_, inv_scale);
}

void DeviceLossScaler::update() {
  if (!options_.enabled) return;
  at::_amp_update_scale_(scale_, growth_tracker_, found_inf_, options_.growth_factor,
                         options_.backoff_factor, options_.growth_interval);
  skipped_.add_(found_inf_);
}

LossScalerState DeviceLossScaler::read() const {
  LossScalerState s;
  s.scale = scale_.item<float>();
  s.growth_tracker = growth_tracker_.item<int64_t>();
  s.skipped_steps = static_cast<int64_t>(skipped_.item<double>());
  return s;
}

}  // namespace trainrun
