// TorchScriptModel: the module's names, shared tensors, training through it, export, checks.
#include "models/torchscript_model.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "support/temp_dir.h"

namespace trainrun {
namespace {

// A two-layer module with a buffer, as torch.jit.script would save it.
std::string saveModule(const std::string& name, int64_t out_features) {
  auto cu = std::make_shared<torch::jit::CompilationUnit>();
  torch::jit::Module root("__torch__.Net", cu);
  torch::jit::Module body("__torch__.Body", cu);
  torch::manual_seed(0);
  // Trainable, as nn.Parameter makes them in Python (frozen ones would stay frozen).
  body.register_parameter("weight", torch::randn({out_features, 4}).requires_grad_(), false);
  body.register_parameter("bias", torch::zeros({out_features}).requires_grad_(), false);
  body.define("def forward(self, x):\n    return torch.linear(x, self.weight, self.bias)\n");
  root.register_module("body", body);
  root.register_buffer("scale", torch::tensor(2.0));
  root.define("def forward(self, x):\n    return self.body.forward(x * self.scale)\n");
  static const testing::TempDir scratch("ts_model_test");  // removed at exit
  const std::string path = (scratch.path() / (name + ".pt")).string();
  root.save(path);
  return path;
}

TEST(TorchScriptModel, ExposesTheModulesTensorsUnderItsNames) {
  TorchScriptModel m(saveModule("names", 3));
  std::vector<std::string> names;
  for (const auto& p : m.named_parameters()) names.push_back(p.key());
  EXPECT_EQ(names, (std::vector<std::string>{"body.weight", "body.bias"}));
  ASSERT_EQ(m.named_buffers().size(), 1u);
  EXPECT_EQ(m.named_buffers()[0].key(), "scale");
  EXPECT_DOUBLE_EQ(m.flopsPerSample(), 6.0 * (3 * 4 + 3));
}

TEST(TorchScriptModel, TrainingStepsChangeWhatTheModuleComputesAndExports) {
  TorchScriptModel m(saveModule("train", 3));
  torch::Tensor x = torch::randn({5, 4});
  torch::Tensor before = m.forward(x).detach();
  torch::optim::SGD sgd(m.parameters(), torch::optim::SGDOptions(0.5));
  torch::Tensor loss = torch::cross_entropy_loss(m.forward(x), torch::tensor({0, 1, 2, 0, 1}));
  loss.backward();
  for (const auto& p : m.parameters()) EXPECT_TRUE(p.grad().defined());
  sgd.step();
  torch::Tensor after = m.forward(x).detach();
  EXPECT_FALSE(torch::allclose(before, after));  // the module computes with the new values
  // The export holds the trained values and runs alone.
  torch::jit::Module exported = m.toTorchScript();
  EXPECT_TRUE(torch::allclose(exported.forward({x}).toTensor(), after));
  // In place: loading a checkpoint copies into the same tensors the module reads.
  {
    torch::NoGradGuard no_grad;
    for (auto& p : m.parameters()) p.zero_();
  }
  EXPECT_TRUE(torch::equal(m.forward(x), torch::zeros({5, 3})));
  EXPECT_TRUE(torch::allclose(exported.forward({x}).toTensor(), after));  // a copy
}

TEST(TorchScriptModel, OutputShapeAndBadFilesAreConfigErrors) {
  TorchScriptModel ok(saveModule("ok", 10));
  EXPECT_NO_THROW(ok.checkOutput(torch::zeros({4}), 10, false));
  try {
    ok.checkOutput(torch::zeros({4}), 7, false);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("returned [2, 10]; the data needs (2, 7) logits"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(ok.checkOutput(torch::zeros({5}), 10, false), ConfigError);  // wrong width
  const std::string junk = saveModule("junk", 1) + ".junk";
  { std::ofstream(junk) << "not a module"; }
  EXPECT_THROW(TorchScriptModel{junk}, ConfigError);
}

}  // namespace
}  // namespace trainrun
