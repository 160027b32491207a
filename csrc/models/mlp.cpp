// The built-in MLP and its TorchScript export.
#include "models/mlp.h"

namespace trainrun {

Mlp::Mlp(std::vector<int64_t> widths) : widths_(std::move(widths)) {
  for (size_t i = 0; i + 1 < widths_.size(); ++i)
    layers_.push_back(
        register_module("fc" + std::to_string(i), torch::nn::Linear(widths_[i], widths_[i + 1])));
}

torch::Tensor Mlp::forward(const torch::Tensor& x) {
  torch::Tensor h = x;  // (B, widths[0])
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
  root.define("def forward(self, x):\n" + body + "    return x\n");
  return root;
}

}  // namespace trainrun
