// GraphedStep: one whole optimizer step with its state on the device (train.cuda_graph).
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "config/config.h"

namespace trainrun {

class CapturedCall;
class DeviceLossScaler;
class FusedAdamW;
class GradClipper;
class LossScaler;
class Reducer;

using MicroBatch = std::pair<torch::Tensor, torch::Tensor>;  // (inputs, targets)

struct GraphedStepParts {
  std::vector<torch::Tensor> params;  // the reducer's: gradients are its bucket views
  Reducer& reducer;
  FusedAdamW& optimizer;
  LossScaler& scaler;    // options and state in at the first step, state out in publish()
  GradClipper* clipper;  // optimizer.max_grad_norm; null: no clipping
  // A micro-batch's loss (under autocast), already divided by the accumulation count.
  std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& y)> micro_loss;
  torch::Tensor window_loss;  // each micro-batch's loss is added to it, on the device
};

// Per step: zero the gradients, forward and backward each micro-batch, unscale and check for
// inf/NaN (fp16), clip the gradients' norm (when a clipper is given), fused AdamW with the
// learning rate and the found-inf flag read from device tensors, update the loss scale.
// Nothing is read back, so on a CUDA device the step is captured as a CUDA graph after
// `warmup_steps` eager steps (CapturedCall) and replayed: the micro-batches are copied into
// fixed input buffers first. On a CPU device the same step runs eagerly (the tests compare it
// with the Trainer's step). One rank only: the reducer's all-reduce is not captured.
class GraphedStep {
 public:
  GraphedStep(GraphedStepParts parts, torch::Device device, int warmup_steps);
  ~GraphedStep();

  // One optimizer step over `micro` (the same count and shapes every step: Error naming the
  // change otherwise) at learning rate `lr`.
  void run(const std::vector<MicroBatch>& micro, double lr);
  // The host copies of the device state, for a log line or a checkpoint (syncs): the loss
  // scaler's scale, growth tracker and skipped steps, and AdamW's step counts.
  void publish();
  bool captured() const;

 private:
  void body();

  GraphedStepParts parts_;
  torch::Device device_;
  std::unique_ptr<CapturedCall> call_;
  std::unique_ptr<DeviceLossScaler> scaler_;  // made at the first step: after a resume
  std::vector<MicroBatch> inputs_;            // the fixed buffers the step reads
  torch::Tensor lr_;                          // fp32 (), on the device
  std::vector<torch::Tensor> grads_;
};

// train.cuda_graph's conditions that depend on the rank's world: ConfigError unless `device`
// is CUDA (or TRAINRUN_GRAPHED_STEP_ON_CPU=1, for tests) and the run is one non-elastic rank.
void checkGraphedStep(const config::JobConfig& config, torch::Device device, int world_size,
                      bool elastic);

}  // namespace trainrun
