// Dynamic loss scaling for fp16 training, with torch.cuda.amp.GradScaler's semantics.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace trainrun {

// Defaults are GradScaler's.
struct LossScalerOptions {
  double init_scale = 65536.0;  // 2^16
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  // Consecutive steps without inf/NaN after which the scale grows.
  int64_t growth_interval = 2000;
  // Disabled (fp32/bf16): scale() is the identity and unscaleAndCheck() leaves grads alone.
  bool enabled = true;
  // Bound on waiting for the GPU to report the found-inf flag: the group's deadline
  // (DistContext::timeout). Required for CUDA gradients (Error if unset); unused on the CPU.
  std::chrono::milliseconds sync_timeout{0};
};

// What a checkpoint must keep so a resumed run continues with the same scale.
struct LossScalerState {
  float scale = 65536.0f;
  int64_t growth_tracker = 0;
  int64_t skipped_steps = 0;
};

class CudaUnscaler;

// Per step: backward(scale(loss)); all-reduce the gradients; found = unscaleAndCheck(grads);
// step the optimizer unless found; update(found). Unscaling the averaged gradients gives
// every rank the same found-inf without another collective.
// Not thread-safe; one per optimizer.
class LossScaler {
 public:
  explicit LossScaler(LossScalerOptions options = {});
  ~LossScaler();
  LossScaler(const LossScaler&) = delete;
  LossScaler& operator=(const LossScaler&) = delete;

  // loss * scale, in loss's dtype.
  torch::Tensor scale(const torch::Tensor& loss) const;

  // In place grads *= 1/scale, one fused pass per dtype that also detects inf/NaN. Grads may
  // be fp32, fp16 or bf16, CPU or CUDA (CUDA ones on one device; the kernels run on LibTorch's
  // current CUDA stream, after the work already queued there, such as the gradients'
  // all-reduce waits). Undefined grads are skipped. Returns this rank's found-inf.
  bool unscaleAndCheck(std::vector<torch::Tensor>& grads);

  // Found inf: scale *= backoff, growth tracker reset, step counted as skipped. Otherwise the
  // tracker counts up and at growth_interval the scale grows (if it stays finite in fp32).
  void update(bool found_inf);

  float scaleValue() const { return state_.scale; }
  int64_t growthTracker() const { return state_.growth_tracker; }
  int64_t skippedSteps() const { return state_.skipped_steps; }
  bool enabled() const { return options_.enabled; }
  const LossScalerOptions& options() const { return options_; }

  LossScalerState state() const { return state_; }
  void loadState(const LossScalerState& state) { state_ = state; }
  // The same state as scalar tensors ("scale" fp32, "growth_tracker" and "skipped_steps"
  // int64) for checkpoint formats that store tensors; loadStateDict throws Error on a
  // missing key.
  std::map<std::string, torch::Tensor> stateDict() const;
  void loadStateDict(const std::map<std::string, torch::Tensor>& dict);

 private:
  LossScalerOptions options_;
  LossScalerState state_;
  std::unique_ptr<CudaUnscaler> cuda_;  // created on first CUDA grad
};

}  // namespace trainrun
