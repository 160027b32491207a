// Divergence checks: a run whose loss or parameters stop being finite ends before it saves them.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace trainrun {

// DivergedError unless `loss`, the mean train loss of steps first..last (1-based), is finite.
// Not for fp16, whose loss scaler skips the steps that overflow (their loss is not finite, the
// parameters stay as they were).
void checkLossFinite(double loss, int64_t first_step, int64_t last_step);

// DivergedError when fp16's loss scaler skipped every step of steps first..last (`skipped` of
// them) and its scale has fallen below 1: the gradients overflow whatever the scale, so no step
// would update the parameters again (DeepSpeed stops at its min_loss_scale, 1, the same way).
void checkLossScale(float scale, int64_t skipped, int64_t first_step, int64_t last_step);

// DivergedError naming the first parameter with a NaN or an infinity, before the checkpoint of
// `step` is saved: one multi-tensor reduction and one read-back (a snapshot syncs anyway).
void checkParamsFinite(const torch::OrderedDict<std::string, torch::Tensor>& named_params,
                       int64_t step);

}  // namespace trainrun
