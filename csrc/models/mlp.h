// The built-in MLP: Linear layers fc0..fcN with ReLU between them.
#pragma once

#include <vector>

#include "models/model.h"

namespace trainrun {

class Mlp : public Model {
 public:
  // widths: in_features, hidden..., num_classes.
  explicit Mlp(std::vector<int64_t> widths, InputTransform transform = {});
  torch::Tensor forward(const torch::Tensor& x) override;
  double flopsPerSample() const override;
  torch::jit::Module toTorchScript() const override;

 private:
  std::vector<int64_t> widths_;
  std::vector<torch::nn::Linear> layers_;
  torch::Tensor input_mean_, input_std_, classes_;  // buffers; undefined when not a table's
  bool regression_ = false;
};

}  // namespace trainrun
