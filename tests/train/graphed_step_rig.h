// Trains a model for a few steps with the Trainer's eager step or with GraphedStep, so tests
// can compare the two on CPU and on a GPU.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <vector>

#include "amp/autocast.h"
#include "amp/loss_scaler.h"
#include "ddp/reducer.h"
#include "models/model.h"
#include "support/thread_ranks.h"
#include "train/fused_adamw.h"
#include "train/grad_clip.h"
#include "train/graphed_step.h"
#include "train/objective.h"

namespace trainrun::testing {

struct RigOptions {
  torch::Device device = torch::kCPU;
  Precision precision = Precision::kFp32;
  bool scaled = false;  // dynamic loss scaling (growth every 2 clean steps)
  int steps = 6;
  int warmup = 2;            // GraphedStep's eager steps before the capture
  int poisoned_step = -1;    // this step's loss is multiplied by inf (needs `scaled`)
  double max_grad_norm = 0;  // > 0: clip the gradients' norm (GradClipper)
};

struct RigResult {
  std::vector<torch::Tensor> params;  // on the CPU
  double window_loss = 0;             // every micro-batch's loss summed
  LossScalerState scaler;
  int64_t adamw_steps = 0;  // the first parameter's AdamW step count
  bool captured = false;
  double grad_norm = 0;  // the last step's norm before clipping (max_grad_norm > 0)
};

// `micro[s]` are step s's micro-batches, on the device. The eager side is the Trainer's step
// protocol: zero, backward of each scaled micro-loss, unscale and check, clip (max_grad_norm),
// AdamW unless found, update the scale. The learning rate of step s is (s + 1) / 1024 (exact
// in fp32).
inline RigResult trainRig(bool graphed, const std::function<std::shared_ptr<Model>()>& make,
                          const std::vector<std::vector<MicroBatch>>& micro, const RigOptions& o) {
  RigResult out;
  runRanks(1, [&](int, Communicator& comm) {
    std::shared_ptr<Model> model = make();
    model->to(o.device);
    Reducer reducer(model->parameters(), &comm, ReducerOptions{});
    FusedAdamW adamw(model->parameters(), torch::optim::AdamWOptions(1e-3).weight_decay(0.1));
    LossScalerOptions so;
    so.enabled = o.scaled;
    so.growth_interval = 2;
    so.sync_timeout = std::chrono::seconds(60);
    LossScaler scaler(so);
    std::unique_ptr<GradClipper> clipper;
    if (o.max_grad_norm > 0) clipper = std::make_unique<GradClipper>(o.max_grad_norm, o.device);
    const auto on = torch::TensorOptions().device(o.device);
    torch::Tensor window = torch::zeros({}, on.dtype(torch::kDouble));
    torch::Tensor poison = torch::ones({}, on.dtype(torch::kFloat));  // read by the graph too
    const double accum = double(micro.front().size());
    auto micro_loss = [&](const torch::Tensor& x, const torch::Tensor& y) {
      AutocastGuard autocast(o.precision, o.device.type());
      return lossOf(*model, x, y, Task::kClassification, false) * poison / accum;
    };
    std::unique_ptr<GraphedStep> step;
    if (graphed)
      step =
          std::make_unique<GraphedStep>(GraphedStepParts{model->parameters(), reducer, adamw,
                                                         scaler, clipper.get(), micro_loss, window},
                                        o.device, o.warmup);
    for (int s = 0; s < o.steps; ++s) {
      poison.fill_(s == o.poisoned_step ? INFINITY : 1.0);
      const double lr = double(s + 1) / 1024;
      const std::vector<MicroBatch>& batch = micro[size_t(s) % micro.size()];
      if (step) {
        step->run(batch, lr);
        continue;
      }
      reducer.zeroGrad();
      for (size_t m = 0; m < batch.size(); ++m) {
        reducer.prepareForBackward(m + 1 == batch.size());
        const torch::Tensor loss = micro_loss(batch[m].first, batch[m].second);
        scaler.scale(loss).backward();
        window.add_(loss.detach());
      }
      reducer.finalizeBackward();
      std::vector<torch::Tensor> grads;
      for (auto& p : model->parameters()) grads.push_back(p.grad());
      const bool found = scaler.unscaleAndCheck(grads);
      if (clipper) clipper->clip(grads);
      adamw.param_groups()[0].options().set_lr(lr);
      if (!found) adamw.step();
      scaler.update(found);
    }
    if (step) {
      step->publish();
      out.captured = step->captured();
    }
    for (auto& p : model->parameters()) out.params.push_back(p.detach().to(torch::kCPU));
    out.window_loss = window.item<double>();
    out.scaler = scaler.state();
    if (clipper) out.grad_norm = clipper->lastNorm().item<double>();
    const auto state = adamw.state().find(model->parameters().front().unsafeGetTensorImpl());
    if (state == adamw.state().end()) throw std::runtime_error("no AdamW state");
    out.adamw_steps = static_cast<torch::optim::AdamWParamState&>(*state->second).step();
  });
  return out;
}

}  // namespace trainrun::testing
