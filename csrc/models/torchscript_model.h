// TorchScriptModel: a module scripted in Python (torch.jit.script) trained as a built-in model.
#pragma once

#include <string>

#include "models/model.h"

namespace trainrun {

// Wraps a loaded TorchScript module. Its parameters and buffers are registered as this
// module's under the same dotted names ("layers.0.weight"), sharing their tensors, so the
// Reducer, the optimizer, checkpoints and the device move all act on the module's own
// tensors; forward() runs the module's forward (TorchScript's interpreter, autograd through it).
class TorchScriptModel : public Model {
 public:
  // Loads `path`; throws ConfigError naming it when it is not a TorchScript module with a
  // forward method and at least one trainable parameter.
  explicit TorchScriptModel(const std::string& path);
  torch::Tensor forward(const torch::Tensor& x) override;
  // 6 FLOPs per parameter per sample (2 forward, 4 backward): exact for dense layers applied
  // once per sample, an estimate otherwise (TorchScript does not say what forward computes).
  double flopsPerSample() const override;
  // A copy of the module on the CPU, with the trained values: saved as it was loaded.
  torch::jit::Module toTorchScript() const override;
  // Training mode (dropout, batch-norm statistics) of the TorchScript module too.
  void train(bool on = true) override;

  // Runs one forward, in eval mode (no statistics change), on a zero batch of two samples
  // shaped like `example` (one sample: (F,) features or (T,) tokens) and checks that the output
  // is (2, num_classes), or (2, T, >= num_classes) for tokens. Throws ConfigError naming
  // model.path and both shapes otherwise.
  void checkOutput(const torch::Tensor& example, int64_t num_classes, bool tokens);

 private:
  std::string path_;
  torch::jit::Module module_;
};

}  // namespace trainrun
