// AutocastGuard: runs a forward pass under LibTorch autocast for the chosen precision.
#pragma once

#include <ATen/autocast_mode.h>

#include "amp/precision.h"

namespace trainrun {

// Enables autocast for `device_type` (CUDA: fp16/bf16; CPU: bf16) for the guard's scope, as
// torch.autocast does: matmuls run in the low-precision dtype, reductions and the loss stay
// fp32, parameters (the master weights) stay fp32. A no-op for fp32.
class AutocastGuard {
 public:
  AutocastGuard(Precision precision, c10::DeviceType device_type)
      : on_(autocastEnabled(precision)), device_type_(device_type) {
    if (!on_) return;
    prev_enabled_ = at::autocast::is_autocast_enabled(device_type_);
    prev_dtype_ = at::autocast::get_autocast_dtype(device_type_);
    at::autocast::set_autocast_dtype(device_type_, autocastDtype(precision));
    at::autocast::set_autocast_enabled(device_type_, true);
    at::autocast::increment_nesting();
  }
  ~AutocastGuard() {
    if (!on_) return;
    // Leaving the outermost region drops the cached low-precision weight copies.
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(device_type_, prev_enabled_);
    at::autocast::set_autocast_dtype(device_type_, prev_dtype_);
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool on_;
  c10::DeviceType device_type_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kFloat;
};

}  // namespace trainrun
