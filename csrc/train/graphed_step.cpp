// GraphedStep: the step as one capturable body, its inputs and its device-side state.
#include "train/graphed_step.h"

#include <string>

#include "amp/device_loss_scaler.h"
#include "amp/loss_scaler.h"
#include "core/env.h"
#include "core/error.h"
#include "ddp/reducer.h"
#include "train/captured_call.h"
#include "train/fused_adamw.h"
#include "train/grad_clip.h"

namespace trainrun {

GraphedStep::GraphedStep(GraphedStepParts parts, torch::Device device, int warmup_steps)
    : parts_(std::move(parts)),
      device_(device),
      call_(std::make_unique<CapturedCall>(device, warmup_steps)) {
  lr_ = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat).device(device_));
}

GraphedStep::~GraphedStep() = default;

bool GraphedStep::captured() const { return call_->captured(); }

void GraphedStep::run(const std::vector<MicroBatch>& micro, double lr) {
  if (!scaler_) scaler_ = std::make_unique<DeviceLossScaler>(parts_.scaler, device_);
  if (inputs_.empty()) {
    for (const auto& [x, y] : micro) inputs_.emplace_back(x.clone(), y.clone());
  } else {
    if (micro.size() != inputs_.size())
      throw Error("train.cuda_graph: a step of " + std::to_string(micro.size()) +
                  " micro-batches after steps of " + std::to_string(inputs_.size()));
    for (size_t i = 0; i < micro.size(); ++i) {
      if (micro[i].first.sizes() != inputs_[i].first.sizes() ||
          micro[i].second.sizes() != inputs_[i].second.sizes())
        throw Error("train.cuda_graph: micro-batch of shape " + c10::str(micro[i].first.sizes()) +
                    " after steps of shape " + c10::str(inputs_[i].first.sizes()) +
                    " (the graph replays fixed shapes; run without train.cuda_graph)");
      inputs_[i].first.copy_(micro[i].first, /*non_blocking=*/true);
      inputs_[i].second.copy_(micro[i].second, /*non_blocking=*/true);
    }
  }
  lr_.fill_(lr);
  call_->run([this] { body(); });
}

void GraphedStep::body() {
  parts_.reducer.zeroGrad();
  for (size_t m = 0; m < inputs_.size(); ++m) {
    parts_.reducer.prepareForBackward(/*sync=*/m + 1 == inputs_.size());
    const torch::Tensor loss = parts_.micro_loss(inputs_[m].first, inputs_[m].second);
    scaler_->scale(loss).backward();
    parts_.window_loss.add_(loss.detach());
  }
  parts_.reducer.finalizeBackward();
  if (grads_.empty())
    for (const auto& p : parts_.params) grads_.push_back(p.grad());
  scaler_->unscaleAndCheck(grads_);
  if (parts_.clipper) parts_.clipper->clip(grads_);
  parts_.optimizer.stepOnDevice(lr_, scaler_->enabled() ? scaler_->foundInf() : torch::Tensor());
  scaler_->update();
}

void GraphedStep::publish() {
  if (scaler_ && scaler_->enabled()) parts_.scaler.loadState(scaler_->read());
  parts_.optimizer.pullStepCounts();
}

void checkGraphedStep(const config::JobConfig& config, torch::Device device, int world_size,
                      bool elastic) {
  if (!config.train().cuda_graph()) return;
  if (!device.is_cuda() && env::get(env::kGraphedStepOnCpu) != "1")
    throw ConfigError("train.cuda_graph needs a CUDA device (this rank runs on " + device.str() +
                      "); drop train.cuda_graph");
  if (world_size > 1 || elastic)
    throw ConfigError("train.cuda_graph runs one rank only (this run has " +
                      std::to_string(world_size) + (elastic ? ", elastic" : "") +
                      "; capturing NCCL's all-reduce is not built): drop train.cuda_graph or "
                      "run --nproc-per-node 1");
}

}  // namespace trainrun
