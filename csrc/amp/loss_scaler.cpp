// LossScaler: GradScaler's update rule, with the unscale pass dispatched to CPU or CUDA.
#include "amp/loss_scaler.h"

#include <cmath>

#include "amp/cuda_unscaler.h"
#include "amp/grad_groups.h"
#include "core/error.h"

namespace trainrun {

LossScaler::LossScaler(LossScalerOptions options) : options_(options) {
  if (!(options_.init_scale > 0) || !(options_.growth_factor > 1) ||
      !(options_.backoff_factor > 0 && options_.backoff_factor < 1) || options_.growth_interval < 1)
    throw ConfigError(
        "loss scaler needs init_scale > 0, growth_factor > 1, 0 < backoff_factor < 1 and "
        "growth_interval >= 1");
  state_.scale = static_cast<float>(options_.init_scale);
}

LossScaler::~LossScaler() = default;

torch::Tensor LossScaler::scale(const torch::Tensor& loss) const {
  if (!options_.enabled) return loss;
  return loss * static_cast<double>(state_.scale);
}

bool LossScaler::unscaleAndCheck(std::vector<torch::Tensor>& grads) {
  if (!options_.enabled) return false;
  // GradScaler's reciprocal: in double, then rounded to fp32 once.
  const float inv_scale = static_cast<float>(1.0 / static_cast<double>(state_.scale));
  std::vector<GradGroup> cpu, cuda;
  int cuda_device = -1;
  groupGrads(grads, &cpu, &cuda, &cuda_device);
  bool found_inf = unscaleCpuGroups(cpu, inv_scale);
  if (!cuda.empty()) {
    if (!cuda_ || cuda_->device() != cuda_device)
      cuda_ = std::make_unique<CudaUnscaler>(cuda_device);
    found_inf |= cuda_->run(cuda, inv_scale, options_.sync_timeout);
  }
  return found_inf;
}

void LossScaler::update(bool found_inf) {
  if (!options_.enabled) return;
  if (found_inf) {
    state_.scale = static_cast<float>(state_.scale * options_.backoff_factor);
    state_.growth_tracker = 0;
    ++state_.skipped_steps;
    return;
  }
  if (++state_.growth_tracker >= options_.growth_interval) {
    const float grown = static_cast<float>(state_.scale * options_.growth_factor);
    if (std::isfinite(grown)) state_.scale = grown;  // as GradScaler: never grow to inf
    state_.growth_tracker = 0;
  }
}

std::map<std::string, torch::Tensor> LossScaler::stateDict() const {
  return {{"scale", torch::tensor(state_.scale, torch::kFloat)},
          {"growth_tracker", torch::tensor(state_.growth_tracker, torch::kLong)},
          {"skipped_steps", torch::tensor(state_.skipped_steps, torch::kLong)}};
}

void LossScaler::loadStateDict(const std::map<std::string, torch::Tensor>& dict) {
  auto get = [&](const char* key) {
    auto it = dict.find(key);
    if (it == dict.end() || !it->second.defined() || it->second.numel() != 1)
      throw Error(std::string("loss scaler state: missing or malformed '") + key + "'");
    return it->second;
  };
  LossScalerState s;
  s.scale = get("scale").item<float>();
  s.growth_tracker = get("growth_tracker").item<int64_t>();
  s.skipped_steps = get("skipped_steps").item<int64_t>();
  if (!(s.scale > 0) || !std::isfinite(s.scale))
    throw Error("loss scaler state: scale must be finite and positive, got " +
                std::to_string(s.scale));
  state_ = s;
}

}  // namespace trainrun
