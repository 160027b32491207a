// Model: what the trainer needs of a model, whether built in or loaded.
#pragma once

#include <torch/script.h>
#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>

#include "config/config.h"

namespace trainrun {

class Model : public torch::nn::Module {
 public:
  // (B, ...) input -> (B, ..., num_classes) logits; targets are shaped as the leading dims.
  // Mlp: (B, in_features) float -> (B, num_classes); Gpt: (B, T) token ids -> (B, T, vocab),
  // one prediction per position. Loss and accuracy flatten the leading dims.
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  // model.fused_loss: the mean cross-entropy of forward(x) against y by a path of the model's
  // own that fuses more than the loss (Gpt: the padded head and the loss, as
  // fusedHeadCrossEntropy); nullopt, the default: the trainer takes fusedCrossEntropy of
  // forward(x).
  virtual std::optional<torch::Tensor> fusedLoss(const torch::Tensor& x, const torch::Tensor& y) {
    (void)x;
    (void)y;
    return std::nullopt;
  }
  // Forward + backward FLOPs for one sample (for throughput and MFU).
  virtual double flopsPerSample() const = 0;
  // A TorchScript module with the same parameter names and a forward(), for the artifact:
  // Python's torch.jit.load(path)(x) reproduces forward(x).
  virtual torch::jit::Module toTorchScript() const = 0;
};

// Tables: what the model does to raw rows before its first layer, and what its outputs mean.
// Held as buffers (input_mean, input_std, classes), so they are checkpointed, broadcast and
// exported with the parameters.
struct InputTransform {
  torch::Tensor mean, std;  // (F,) float32: x -> (x - mean) / std; undefined: none
  torch::Tensor classes;    // (C,) float64 label value of each output; undefined: none
  bool regression = false;  // one output, the prediction itself
};

// The model named by model.name: a built-in one sized for the data, or the TorchScript module
// at model.path. `transform`: a table's standardization and classes (MLP only).
std::shared_ptr<Model> makeModel(const config::JobConfig& config, int64_t in_features,
                                 int64_t num_classes, const InputTransform& transform = {});

// Writes model.toTorchScript() to `path` atomically (temporary file, then rename).
void saveTorchScript(const Model& model, const std::string& path);

}  // namespace trainrun
