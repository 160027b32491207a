// DeviceLossScaler: dynamic loss scaling whose state lives in device tensors (no host read).
#pragma once

#include <torch/torch.h>

#include <vector>

#include "amp/loss_scaler.h"

namespace trainrun {

// LossScaler's rule (GradScaler's) for a step captured as a CUDA graph: the scale, the growth
// tracker, the found-inf flag and the skipped-step count are tensors on the gradients' device,
// updated by ATen's GradScaler kernels, so a step never waits for the device to decide. The
// optimizer reads foundInf() and skips its update on the device. Works on CPU tensors too (the
// same kernels), which is how the tests compare it with LossScaler.
class DeviceLossScaler {
 public:
  // Takes `host`'s options and current state (a resumed run's scale) onto `device`.
  DeviceLossScaler(const LossScaler& host, torch::Device device);

  bool enabled() const { return options_.enabled; }
  // loss * scale, on the device; the identity when disabled.
  torch::Tensor scale(const torch::Tensor& loss) const;
  // Zeroes the flag, then grads *= 1/scale in place, setting the flag on any inf or NaN.
  // Undefined grads are skipped.
  void unscaleAndCheck(const std::vector<torch::Tensor>& grads);
  // 1 if the last unscaleAndCheck saw an inf or NaN, else 0: fp32, shape ().
  const torch::Tensor& foundInf() const { return found_inf_; }
  // The update LossScaler::update(found) makes, from foundInf(), on the device.
  void update();
  // The state as LossScaler keeps it: reads the device (a sync), for logs and checkpoints.
  LossScalerState read() const;

 private:
  LossScalerOptions options_;
  torch::Tensor scale_;           // fp32 ()
  torch::Tensor growth_tracker_;  // int32 () as ATen's update kernel takes it
  torch::Tensor found_inf_;       // fp32 ()
  torch::Tensor skipped_;         // fp64 (): exact far beyond any run's step count
};

}  // namespace trainrun
