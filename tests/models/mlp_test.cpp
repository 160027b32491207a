// MLP: shapes, FLOPs, and a TorchScript artifact that reproduces forward with the same names.
#include "models/mlp.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "support/temp_dir.h"

namespace trainrun {
namespace {

TEST(Mlp, ForwardShapeAndFlops) {
  Mlp m({8, 16, 4});
  EXPECT_EQ(m.forward(torch::randn({5, 8})).sizes(), (std::vector<int64_t>{5, 4}));
  EXPECT_DOUBLE_EQ(m.flopsPerSample(), 6.0 * (8 * 16 + 16 * 4));
}

TEST(Mlp, TorchScriptArtifactMatchesAfterSaveAndLoad) {
  Mlp m({8, 16, 16, 3});
  const testing::TempDir tmp;
  std::string path = (tmp.path() / "trainrun_mlp_test.pt").string();
  saveTorchScript(m, path);
  torch::jit::Module loaded = torch::jit::load(path);
  std::vector<std::string> names;
  for (const auto& p : loaded.named_parameters()) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"fc0.weight", "fc0.bias", "fc1.weight", "fc1.bias",
                                             "fc2.weight", "fc2.bias"}));
  torch::Tensor x = torch::randn({4, 8});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(loaded.forward({x}).toTensor(), m.forward(x)));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

}  // namespace
}  // namespace trainrun
