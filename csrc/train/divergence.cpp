// Divergence checks: a log window's loss or fp16 loss scale, and every parameter before a save.
#include "train/divergence.h"

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"

namespace trainrun {
namespace {

// What the user can change, and that nothing good is lost.
const char* const kWhatNow =
    "; checkpoints saved before are kept, none is saved from here on: lower optimizer.lr or set "
    "optimizer.max_grad_norm (or a longer scheduler.warmup_steps), then run again to resume "
    "from the newest checkpoint";

std::string number(double v) { return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"); }

}  // namespace

void checkLossFinite(double loss, int64_t first_step, int64_t last_step) {
  if (std::isfinite(loss)) return;
  throw DivergedError("training diverged: train_loss is " + number(loss) + " over steps " +
                      std::to_string(first_step) + "-" + std::to_string(last_step) + kWhatNow);
}

void checkLossScale(float scale, int64_t skipped, int64_t first_step, int64_t last_step) {
  if (scale >= 1.0f || skipped < last_step - first_step + 1) return;
  std::ostringstream s;
  s << "training diverged: fp16 skipped every step of steps " << first_step << "-" << last_step
    << " (inf or NaN gradients) and the loss scale fell to " << scale << ", below 1" << kWhatNow
    << "; or train in precision: bf16";
  throw DivergedError(s.str());
}

void checkParamsFinite(const torch::OrderedDict<std::string, torch::Tensor>& named_params,
                       int64_t step) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> params;
  for (const auto& item : named_params) params.push_back(item.value().detach());
  if (params.empty()) return;
  // The largest magnitude of each parameter: NaN or inf exactly where one is, never an
  // overflow of a sum of squares.
  std::vector<torch::Tensor> peaks = at::_foreach_norm(params, INFINITY);
  for (auto& p : peaks) p = p.to(torch::kFloat).reshape({1});
  const torch::Tensor finite = torch::isfinite(torch::cat(peaks)).to(torch::kCPU);
  const bool* ok = finite.data_ptr<bool>();
  for (size_t i = 0; i < params.size(); ++i) {
    if (ok[i]) continue;
    throw DivergedError("training diverged: parameter " + named_params[i].key() +
                        " holds a NaN or an infinity after step " + std::to_string(step) +
                        ", so that checkpoint is not saved" + kWhatNow);
  }
}

}  // namespace trainrun
