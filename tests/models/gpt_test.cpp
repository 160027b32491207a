// GPT: shapes, causality, weight tying, GPT-2's parameter count, FLOPs, presets, factory
// checks, and a TorchScript artifact that reproduces forward with the same names.
#include "models/gpt.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "config/config.h"
#include "core/error.h"
#include "support/temp_dir.h"

namespace trainrun {
namespace {

GptSizes tiny() { return {2, 2, 16, 8, 11}; }

config::JobConfig gptConfig(const std::string& name) {
  config::JobConfig c;
  c.mutable_model()->set_name(name);
  c.mutable_data()->set_name("synthetic_tokens");
  return c;
}

TEST(Gpt, ForwardShape) {
  Gpt m(tiny());
  torch::Tensor idx = torch::randint(11, {3, 8}, torch::kLong);
  EXPECT_EQ(m.forward(idx).sizes(), (std::vector<int64_t>{3, 8, 11}));
  // Shorter contexts than block_size work too (generation, the last partial window).
  EXPECT_EQ(m.forward(idx.narrow(1, 0, 5)).sizes(), (std::vector<int64_t>{3, 5, 11}));
  EXPECT_THROW(m.forward(torch::zeros({1, 9}, torch::kLong)), Error);
}

TEST(Gpt, IsCausal) {
  Gpt m(tiny());
  torch::NoGradGuard no_grad;
  torch::Tensor idx = torch::randint(11, {2, 8}, torch::kLong);
  torch::Tensor changed = idx.clone();
  changed.select(1, 5).copy_(changed.select(1, 5).add(1).remainder(11));  // token 5 changes
  torch::Tensor a = m.forward(idx), b = m.forward(changed);               // (2, 8, 11)
  EXPECT_TRUE(torch::equal(a.narrow(1, 0, 5), b.narrow(1, 0, 5)));
  EXPECT_FALSE(torch::allclose(a.narrow(1, 5, 1), b.narrow(1, 5, 1)));
}

TEST(Gpt, HeadIsTiedToTheTokenEmbedding) {
  Gpt m(tiny());
  std::vector<std::string> names;
  for (const auto& p : m.named_parameters()) names.push_back(p.key());
  EXPECT_EQ(names.front(), "wte.weight");
  EXPECT_EQ(std::count(names.begin(), names.end(), "wte.weight"), 1);
  for (const auto& n : names) EXPECT_EQ(n.find("lm_head"), std::string::npos) << n;
  // Through the head every row of wte gets a gradient, even for tokens absent from the input.
  torch::Tensor idx = torch::zeros({1, 8}, torch::kLong);
  m.forward(idx).sum().backward();
  torch::Tensor g = m.named_parameters()["wte.weight"].grad();  // (V, C)
  EXPECT_GT(g.narrow(0, 1, 10).abs().sum().item<double>(), 0);
}

TEST(Gpt, ParameterNamesFollowNanoGpt) {
  Gpt m({1, 2, 16, 8, 11});
  std::vector<std::string> names;
  for (const auto& p : m.named_parameters()) names.push_back(p.key());
  EXPECT_EQ(names, (std::vector<std::string>{
                       "wte.weight", "wpe.weight", "h.0.ln_1.weight", "h.0.ln_1.bias",
                       "h.0.attn.c_attn.weight", "h.0.attn.c_attn.bias", "h.0.attn.c_proj.weight",
                       "h.0.attn.c_proj.bias", "h.0.ln_2.weight", "h.0.ln_2.bias",
                       "h.0.mlp.c_fc.weight", "h.0.mlp.c_fc.bias", "h.0.mlp.c_proj.weight",
                       "h.0.mlp.c_proj.bias", "ln_f.weight", "ln_f.bias"}));
}

TEST(Gpt, Gpt2InitScalesResidualProjections) {
  torch::manual_seed(0);
  Gpt m({8, 4, 128, 32, 64});
  auto params = m.named_parameters();
  EXPECT_NEAR(params["h.0.attn.c_attn.weight"].std().item<double>(), 0.02, 0.001);
  EXPECT_NEAR(params["h.3.mlp.c_proj.weight"].std().item<double>(), 0.02 / 4.0, 0.0003);
  EXPECT_NEAR(params["h.3.attn.c_proj.weight"].std().item<double>(), 0.02 / 4.0, 0.0003);
  EXPECT_EQ(params["h.0.attn.c_attn.bias"].abs().sum().item<double>(), 0);
  EXPECT_EQ(params["ln_f.weight"].mean().item<double>(), 1);
}

TEST(Gpt, Gpt2PresetHasGpt2sParameterCountAndFlops) {
  GptSizes s = gptSizes(gptConfig("gpt2-124m"));
  EXPECT_EQ(s.n_layer, 12);
  EXPECT_EQ(s.n_head, 12);
  EXPECT_EQ(s.n_embd, 768);
  EXPECT_EQ(s.block_size, 1024);
  EXPECT_EQ(s.vocab_size, 50257);
  Gpt m(s);
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  EXPECT_EQ(n, 124439808);  // GPT-2 small with the tied head, position embeddings included
  EXPECT_EQ(m.numMatmulParams(), 124439808 - 1024 * 768);
  const double per_token = 6.0 * (124439808 - 1024 * 768) + 12.0 * 12 * 1024 * 768;
  EXPECT_DOUBLE_EQ(m.flopsPerToken(), per_token);
  EXPECT_DOUBLE_EQ(m.flopsPerSample(), 1024 * per_token);
}

TEST(Gpt, PresetsAndOverrides) {
  GptSizes t = gptSizes(gptConfig("gpt-tiny"));
  EXPECT_EQ(t.n_layer, 2);
  EXPECT_EQ(t.block_size, 64);
  EXPECT_EQ(t.vocab_size, 0);  // from the data
  config::JobConfig c = gptConfig("gpt2-124m");
  c.mutable_model()->set_block_size(256);
  EXPECT_EQ(gptSizes(c).block_size, 256);
  EXPECT_EQ(gptSizes(c).n_layer, 12);
  config::JobConfig g = gptConfig("gpt");
  EXPECT_THROW(gptSizes(g), ConfigError);
  g.mutable_model()->set_n_layer(1);
  g.mutable_model()->set_n_head(2);
  g.mutable_model()->set_n_embd(8);
  g.mutable_model()->set_block_size(4);
  EXPECT_EQ(gptSizes(g).n_embd, 8);
  EXPECT_THROW(Gpt({1, 3, 8, 4, 10}), ConfigError);  // 8 is not divisible by 3 heads
}

TEST(Gpt, FactoryTakesVocabFromDataAndChecksWindows) {
  config::JobConfig c = gptConfig("gpt-tiny");
  auto m = std::dynamic_pointer_cast<Gpt>(makeModel(c, /*in_features=*/64, /*num_classes=*/256));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->sizes().vocab_size, 256);
  EXPECT_THROW(makeModel(c, 32, 256), ConfigError);  // windows shorter than block_size
  c.mutable_model()->set_vocab_size(100);
  EXPECT_THROW(makeModel(c, 64, 256), ConfigError);  // data tokens the model cannot embed
}

// The attention the model had before SDPA: explicit scores, causal mask, softmax.
torch::Tensor explicitCausalAttention(const torch::Tensor& q, const torch::Tensor& k,
                                      const torch::Tensor& v) {  // each (B, nh, T, hs)
  const int64_t T = q.size(2);
  torch::Tensor att = q.matmul(k.transpose(-2, -1)) / std::sqrt(double(q.size(-1)));  // (B,nh,T,T)
  torch::Tensor future = torch::ones({T, T}, torch::kBool).triu(1);
  att = torch::softmax(att.masked_fill(future, -std::numeric_limits<double>::infinity()), -1);
  return att.matmul(v);  // (B, nh, T, hs)
}

TEST(Gpt, FusedAttentionMatchesExplicitAttentionAndGradients) {
  torch::manual_seed(3);
  auto make = [] { return torch::randn({2, 3, 9, 8}, torch::kDouble).requires_grad_(true); };
  torch::Tensor q = make(), k = make(), v = make();
  torch::Tensor fused = at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true);
  torch::Tensor upstream = torch::randn_like(fused);
  auto fused_grads = torch::autograd::grad({fused}, {q, k, v}, {upstream});
  torch::Tensor reference = explicitCausalAttention(q, k, v);
  auto reference_grads = torch::autograd::grad({reference}, {q, k, v}, {upstream});
  EXPECT_TRUE(torch::allclose(fused, reference, 1e-10, 1e-12));
  for (size_t i = 0; i < 3; ++i)
    EXPECT_TRUE(torch::allclose(fused_grads[i], reference_grads[i], 1e-9, 1e-11)) << i;
}

TEST(Gpt, ArtifactHoldsCpuParametersWhateverTheTrainingDevice) {
  Gpt m(tiny());
  torch::jit::Module script = m.toTorchScript();
  for (const auto& p : script.named_parameters()) EXPECT_TRUE(p.value.is_cpu()) << p.name;
}

TEST(Gpt, TorchScriptArtifactMatchesAfterSaveAndLoad) {
  torch::manual_seed(1);
  Gpt m({3, 4, 32, 16, 50});
  const testing::TempDir tmp;
  std::string path = (tmp.path() / "trainrun_gpt_test.pt").string();
  saveTorchScript(m, path);
  torch::jit::Module loaded = torch::jit::load(path);
  std::vector<std::string> names, want;
  for (const auto& p : loaded.named_parameters()) names.push_back(p.name);
  for (const auto& p : m.named_parameters()) want.push_back(p.key());
  EXPECT_EQ(names, want);
  torch::NoGradGuard no_grad;
  torch::Tensor idx = torch::randint(50, {2, 16}, torch::kLong);
  torch::Tensor expected = m.forward(idx);
  torch::Tensor got = loaded.forward({idx}).toTensor();
  EXPECT_EQ(got.sizes(), expected.sizes());
  EXPECT_TRUE(torch::allclose(got, expected, /*rtol=*/1e-5, /*atol=*/1e-6))
      << (got - expected).abs().max().item<double>();
  EXPECT_TRUE(torch::allclose(loaded.forward({idx.narrow(1, 0, 7)}).toTensor(),
                              m.forward(idx.narrow(1, 0, 7)), 1e-5, 1e-6));
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace trainrun
