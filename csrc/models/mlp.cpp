// The built-in MLP and its TorchScript export.
#include "models/mlp.h"

namespace trainrun {

Mlp::Mlp(std::vector<int64_t> widths, InputTransform transform)
    : widths_(std::move(widths)), regression_(transform.regression) {
  for (size_t i = 0; i + 1 < widths_.size(); ++i)
    layers_.push_back(
        register_module("fc" + std::to_string(i), torch::nn::Linear(widths_[i], widths_[i + 1])));
  if (transform.mean.defined()) {
    input_mean_ = register_buffer("input_mean", transform.mean.to(torch::kFloat32).clone());
    input_std_ = register_buffer("input_std", transform.std.to(torch::kFloat32).clone());
  }
  if (transform.classes.defined())
    classes_ = register_buffer("classes", transform.classes.to(torch::kFloat64).clone());
}

torch::Tensor Mlp::forward(const torch::Tensor& x) {
  torch::Tensor h = x;  // (B, widths[0]) raw features
  if (input_mean_.defined()) h = (h - input_mean_) / input_std_;
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = layers_[i]->forward(h);  // (B, widths[i+1])
    if (i + 1 < layers_.size()) h = torch::relu(h);
  }
  return h;  // (B, num_classes)
}

double Mlp::flopsPerSample() const {
  double macs = 0;
  for (size_t i = 0; i + 1 < widths_.size(); ++i) macs += double(widths_[i]) * widths_[i + 1];
  return 6.0 * macs;  // 2 FLOPs per MAC, backward costs twice the forward
}

torch::jit::Module Mlp::toTorchScript() const {
  auto cu = std::make_shared<torch::jit::CompilationUnit>();
  torch::jit::Module root("__torch__.trainrun.Mlp", cu);
  std::string body;
  for (size_t i = 0; i < layers_.size(); ++i) {
    std::string name = "fc" + std::to_string(i);
    torch::jit::Module fc("__torch__.trainrun.Linear" + std::to_string(i), cu);
    fc.register_parameter("weight", layers_[i]->weight.detach().to(torch::kCPU).clone(), false);
    fc.register_parameter("bias", layers_[i]->bias.detach().to(torch::kCPU).clone(), false);
    fc.define(R"(
def forward(self, x):
    return torch.linear(x, self.weight, self.bias)
)");
    root.register_module(name, fc);
    body += "    x = self." + name + ".forward(x)\n";
    if (i + 1 < layers_.size()) body += "    x = torch.relu(x)\n";
  }
  std::string prologue;
  if (input_mean_.defined()) {
    // Raw features in: the standardization of the training split happens inside the model.
    root.register_buffer("input_mean", input_mean_.detach().to(torch::kCPU).clone());
    root.register_buffer("input_std", input_std_.detach().to(torch::kCPU).clone());
    prologue = "    x = (x - self.input_mean) / self.input_std\n";
  }
  root.define("def forward(self, x):\n" + prologue + body + "    return x\n");
  // predict(x): label values for classification (classes[argmax]), values for regression.
  if (classes_.defined()) {
    root.register_buffer("classes", classes_.detach().to(torch::kCPU).clone());
    root.define(R"(
def predict(self, x):
    return self.classes[self.forward(x).argmax(-1)]
)");
  } else if (regression_) {
    root.define(R"(
def predict(self, x):
    return self.forward(x).squeeze(-1)
)");
  }
  return root;
}

}  // namespace trainrun
