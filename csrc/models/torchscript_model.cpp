// Loading a TorchScript module and exposing its tensors as this Model's.
#include "models/torchscript_model.h"

#include <sstream>

#include "core/error.h"

namespace trainrun {
namespace {

// Registers `tensor` under its dotted `name` ("a.b.weight"): child modules "a" and "b" are
// made as needed, so named_parameters() gives the TorchScript module's names back.
void registerDotted(torch::nn::Module& root, const std::string& name, const torch::Tensor& tensor,
                    bool parameter) {
  torch::nn::Module* at = &root;
  size_t begin = 0;
  for (size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', begin)) {
    const std::string part = name.substr(begin, dot - begin);
    auto children = at->named_children();
    if (!children.contains(part))
      at->register_module(part, std::make_shared<torch::nn::Module>(part));
    at = at->named_children()[part].get();
    begin = dot + 1;
  }
  const std::string leaf = name.substr(begin);
  if (parameter)
    at->register_parameter(leaf, tensor, tensor.requires_grad());
  else
    at->register_buffer(leaf, tensor);
}

std::string shapeOf(const torch::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

// The last non-empty line of a multi-line message.
std::string lastLine(const std::string& text) {
  std::string last, line;
  std::istringstream in(text);
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t") != std::string::npos) last = line;
  return last;
}

}  // namespace

TorchScriptModel::TorchScriptModel(const std::string& path) : path_(path) {
  try {
    module_ = torch::jit::load(path, torch::kCPU);
  } catch (const c10::Error& e) {
    throw ConfigError("model.path " + path +
                      " is not a TorchScript module (save one in Python with "
                      "torch.jit.script(module).save(path)): " +
                      e.what_without_backtrace());
  }
  if (!module_.find_method("forward"))
    throw ConfigError("model.path " + path + ": the module has no forward(x) method");
  module_.train();
  int64_t trainable = 0;
  for (const auto& p : module_.named_parameters(/*recurse=*/true)) {
    registerDotted(*this, p.name, p.value, /*parameter=*/true);
    trainable += p.value.requires_grad() ? 1 : 0;
  }
  for (const auto& b : module_.named_buffers(/*recurse=*/true))
    registerDotted(*this, b.name, b.value, /*parameter=*/false);
  if (trainable == 0)
    throw ConfigError("model.path " + path + ": the module has no trainable parameters");
}

torch::Tensor TorchScriptModel::forward(const torch::Tensor& x) {
  // Module::to() changes the shared tensors in place (set_data), so the module computes with
  // the parameters wherever they now live.
  return module_.forward({x}).toTensor();
}

double TorchScriptModel::flopsPerSample() const {
  double n = 0;
  for (const auto& p : module_.parameters(/*recurse=*/true)) n += double(p.numel());
  return 6.0 * n;
}

torch::jit::Module TorchScriptModel::toTorchScript() const {
  torch::jit::Module copy = module_.deepcopy();
  copy.to(torch::kCPU);
  copy.eval();
  return copy;
}

void TorchScriptModel::train(bool on) {
  Model::train(on);
  module_.train(on);
}

void TorchScriptModel::checkOutput(const torch::Tensor& example, int64_t num_classes, bool tokens) {
  const std::string& path = path_;
  std::vector<int64_t> shape{2};
  for (int64_t d : example.sizes()) shape.push_back(d);
  const torch::Tensor x = torch::zeros(shape, example.options());
  torch::Tensor y;
  {
    torch::NoGradGuard no_grad;
    const bool was_training = is_training();
    train(false);
    try {
      y = forward(x.to(parameters().front().device()));
      train(was_training);
    } catch (const std::exception& e) {
      // The interpreter's error holds a TorchScript traceback; its last line is the reason.
      train(was_training);
      throw ConfigError("model.path " + path + ": forward() fails on a batch shaped " + shapeOf(x) +
                        " like the data's: " + lastLine(e.what()));
    }
  }
  const bool ok = tokens ? (y.dim() == 3 && y.size(0) == 2 && y.size(1) == example.size(0) &&
                            y.size(2) >= num_classes)
                         : (y.dim() == 2 && y.size(0) == 2 && y.size(1) == num_classes);
  if (!ok)
    throw ConfigError("model.path " + path + ": forward() of a batch shaped " + shapeOf(x) +
                      " returned " + shapeOf(y) + "; the data needs " +
                      (tokens ? "(2, " + std::to_string(example.size(0)) +
                                    ", vocab >= " + std::to_string(num_classes) + ")"
                              : "(2, " + std::to_string(num_classes) + ")") +
                      " logits");
}

}  // namespace trainrun
