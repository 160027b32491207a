// The built-in GPT: presets, the C++ forward, GPT-2 init, FLOPs and its TorchScript twin.
#include "models/gpt.h"

#include <cmath>
#include <string>

#include "config/config.h"
#include "core/error.h"
#include "models/fused_add_norm.h"
#include "models/fused_cross_entropy.h"

namespace trainrun {
namespace gpt_detail {

// Multi-head causal self-attention with one fused q/k/v projection.
class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t n_embd, int64_t n_head) : n_head_(n_head) {
    c_attn = register_module("c_attn", torch::nn::Linear(n_embd, 3 * n_embd));
    c_proj = register_module("c_proj", torch::nn::Linear(n_embd, n_embd));
  }

  torch::Tensor forward(const torch::Tensor& x) {  // x: (B, T, C)
    const int64_t B = x.size(0), T = x.size(1), C = x.size(2), hs = C / n_head_;
    std::vector<torch::Tensor> qkv = c_attn->forward(x).split(C, 2);     // 3 x (B, T, C)
    torch::Tensor q = qkv[0].view({B, T, n_head_, hs}).transpose(1, 2);  // (B, nh, T, hs)
    torch::Tensor k = qkv[1].view({B, T, n_head_, hs}).transpose(1, 2);  // (B, nh, T, hs)
    torch::Tensor v = qkv[2].view({B, T, n_head_, hs}).transpose(1, 2);  // (B, nh, T, hs)
    // Fused causal attention (flash / memory-efficient kernels on Tensor Cores in fp16/bf16):
    // no (T, T) score matrix or mask is materialized. Scale 1/sqrt(hs).
    torch::Tensor y = at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{},
                                                       /*dropout_p=*/0.0, /*is_causal=*/true);
    y = y.transpose(1, 2).contiguous().view({B, T, C});  // (B, T, C)
    return c_proj->forward(y);
  }

  torch::nn::Linear c_attn{nullptr}, c_proj{nullptr};

 private:
  int64_t n_head_;
};

// The position-wise MLP: 4x expansion with GPT-2's tanh-approximated GELU.
class FeedForwardImpl : public torch::nn::Module {
 public:
  explicit FeedForwardImpl(int64_t n_embd) {
    c_fc = register_module("c_fc", torch::nn::Linear(n_embd, 4 * n_embd));
    c_proj = register_module("c_proj", torch::nn::Linear(4 * n_embd, n_embd));
  }
  torch::Tensor forward(const torch::Tensor& x) {                   // (B, T, C)
    return c_proj->forward(torch::gelu(c_fc->forward(x), "tanh"));  // (B, T, C)
  }
  torch::nn::Linear c_fc{nullptr}, c_proj{nullptr};
};

class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(int64_t n_embd, int64_t n_head) {
    ln_1 = register_module("ln_1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({n_embd})));
    attn = register_module("attn", std::make_shared<AttentionImpl>(n_embd, n_head));
    ln_2 = register_module("ln_2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({n_embd})));
    mlp = register_module("mlp", std::make_shared<FeedForwardImpl>(n_embd));
  }
  torch::Tensor forward(torch::Tensor x) {  // (B, T, C)
    x = x + attn->forward(ln_1->forward(x));
    return x + mlp->forward(ln_2->forward(x));
  }
  torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
  std::shared_ptr<AttentionImpl> attn;
  std::shared_ptr<FeedForwardImpl> mlp;
};

}  // namespace gpt_detail

namespace {

constexpr double kInitStd = 0.02;  // GPT-2's init for every weight matrix and embedding
// The fused head writes logits rows of the vocabulary rounded up to this (50257 -> 50304), so
// each row starts 128-byte aligned in bf16 (nanoGPT and llm.c pad the same way).
constexpr int64_t kHeadPadding = 64;

// The preset's sizes but block_size, which config::blockSize resolves (data/ windows tokens by
// the same rule).
GptSizes presetSizes(const std::string& name) {
  if (name == "gpt-tiny") return {2, 2, 64, 0, 0};
  if (name == "gpt2-124m") return {12, 12, 768, 0, 50257};
  return {};  // "gpt": every size comes from the keys
}

// TorchScript source of a LayerNorm over the last dim of width `n` (eps as torch.nn's default).
std::string layerNormCall(const std::string& module, const std::string& x, int64_t n) {
  return "torch.layer_norm(" + x + ", [" + std::to_string(n) + "], self." + module +
         ".weight, self." + module + ".bias, 1e-05)";
}

// Builds the TorchScript twin. Every submodule gets its own class type (a compilation unit
// refuses a second type of the same name), so each one is defined separately.
class ScriptBuilder {
 public:
  torch::jit::Module module(const std::string& type) {
    return torch::jit::Module("__torch__.trainrun.gpt." + type + std::to_string(next_id_++), cu_);
  }
  // The direct parameters of `source`, under the same names (weight, bias).
  torch::jit::Module params(const torch::nn::Module& source, const std::string& type) {
    torch::jit::Module m = module(type);
    for (const auto& p : source.named_parameters(/*recurse=*/false))
      // On the CPU whatever device trained: evaluation and registration hosts often have no GPU.
      m.register_parameter(p.key(), p.value().detach().to(torch::kCPU).clone(), false);
    return m;
  }
  torch::jit::Module linear(const torch::nn::Linear& source) {
    torch::jit::Module m = params(*source, "Linear");
    m.define(R"(
def forward(self, x):
    return torch.linear(x, self.weight, self.bias)
)");
    return m;
  }

 private:
  std::shared_ptr<torch::jit::CompilationUnit> cu_ =
      std::make_shared<torch::jit::CompilationUnit>();
  int next_id_ = 0;
};

}  // namespace

GptSizes gptSizes(const config::JobConfig& config) {
  const auto& m = config.model();
  GptSizes s = presetSizes(m.name());
  auto pick = [](int64_t key, int64_t& size, const char* name, bool required) {
    if (key > 0) size = key;
    if (size == 0 && required)
      throw ConfigError(std::string("model.name=gpt needs model.") + name +
                        " (or use a preset: model.name=gpt-tiny or gpt2-124m)");
  };
  pick(m.n_layer(), s.n_layer, "n_layer", true);
  pick(m.n_head(), s.n_head, "n_head", true);
  pick(m.n_embd(), s.n_embd, "n_embd", true);
  s.block_size = config::blockSize(config);
  pick(m.vocab_size(), s.vocab_size, "vocab_size", false);
  return s;
}

Gpt::Gpt(const GptSizes& sizes, bool fused_norm) : sizes_(sizes), fused_norm_(fused_norm) {
  const int64_t L = sizes.n_layer, C = sizes.n_embd;
  if (L < 1 || sizes.n_head < 1 || C < 1 || sizes.block_size < 1 || sizes.vocab_size < 1)
    throw ConfigError("GPT sizes must be positive (n_layer " + std::to_string(L) + ", n_head " +
                      std::to_string(sizes.n_head) + ", n_embd " + std::to_string(C) +
                      ", block_size " + std::to_string(sizes.block_size) + ", vocab_size " +
                      std::to_string(sizes.vocab_size) + ")");
  if (C % sizes.n_head != 0)
    throw ConfigError("model.n_embd (" + std::to_string(C) +
                      ") must be divisible by model.n_head (" + std::to_string(sizes.n_head) + ")");
  wte_ = register_module("wte", torch::nn::Embedding(sizes.vocab_size, C));
  wpe_ = register_module("wpe", torch::nn::Embedding(sizes.block_size, C));
  torch::nn::ModuleList h;
  for (int64_t i = 0; i < L; ++i) {
    blocks_.push_back(std::make_shared<gpt_detail::BlockImpl>(C, sizes.n_head));
    h->push_back(blocks_.back());
  }
  register_module("h", h);
  ln_f_ = register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({C})));

  // GPT-2 init. The residual projections get 1/sqrt(2 * n_layer) of the std so that the
  // residual stream's variance stays flat with depth (2 additions per block).
  torch::NoGradGuard no_grad;
  const double proj_std = kInitStd / std::sqrt(2.0 * double(L));
  wte_->weight.normal_(0, kInitStd);
  wpe_->weight.normal_(0, kInitStd);
  for (auto& b : blocks_) {
    for (torch::nn::Linear* lin :
         {&b->attn->c_attn, &b->attn->c_proj, &b->mlp->c_fc, &b->mlp->c_proj}) {
      (*lin)->weight.normal_(0, kInitStd);
      (*lin)->bias.zero_();
    }
    b->attn->c_proj->weight.normal_(0, proj_std);
    b->mlp->c_proj->weight.normal_(0, proj_std);
  }
}

torch::Tensor Gpt::forward(const torch::Tensor& idx) {  // idx: (B, T) int64
  return torch::linear(trunk(idx), wte_->weight);  // (B, T, V): the head is the token embedding
}

std::optional<torch::Tensor> Gpt::fusedLoss(const torch::Tensor& idx, const torch::Tensor& y) {
  const torch::Tensor x = trunk(idx);  // (B, T, C)
  return fusedHeadCrossEntropy(x.reshape({-1, x.size(-1)}), wte_->weight,
                               y.reshape({-1}).contiguous(), kHeadPadding);
}

torch::Tensor Gpt::trunk(const torch::Tensor& idx) {
  const int64_t T = idx.size(1);
  if (T > sizes_.block_size)
    throw Error("GPT input has " + std::to_string(T) + " tokens, more than block_size " +
                std::to_string(sizes_.block_size));
  torch::Tensor pos = torch::arange(T, idx.options().dtype(torch::kLong));  // (T,)
  torch::Tensor x = wte_->forward(idx) + wpe_->forward(pos);                // (B, T, C)
  if (fused_norm_) return fusedNormBlocks(x);
  for (auto& b : blocks_) x = b->forward(x);  // (B, T, C)
  return ln_f_->forward(x);
}

// The blocks as fused (add, LayerNorm) pairs: each block's two residual adds each run with the
// LayerNorm that reads their sum (ln_2, then the next block's ln_1 or ln_f).
torch::Tensor Gpt::fusedNormBlocks(const torch::Tensor& embedded) {
  auto norm = [](const torch::Tensor& residual, const torch::Tensor& branch,
                 const torch::nn::LayerNorm& ln) {
    return fusedAddLayerNorm(residual, branch, ln->weight, ln->bias, ln->options.eps());
  };
  AddNorm h = norm(embedded, torch::Tensor(), blocks_.front()->ln_1);
  for (size_t i = 0; i < blocks_.size(); ++i) {
    h = norm(h.sum, blocks_[i]->attn->forward(h.normed), blocks_[i]->ln_2);
    const torch::nn::LayerNorm& next = i + 1 < blocks_.size() ? blocks_[i + 1]->ln_1 : ln_f_;
    h = norm(h.sum, blocks_[i]->mlp->forward(h.normed), next);
  }
  return h.normed;
}

int64_t Gpt::numMatmulParams() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n - wpe_->weight.numel();
}

double Gpt::flopsPerToken() const {
  const double T = double(sizes_.block_size), C = double(sizes_.n_embd);
  return 6.0 * double(numMatmulParams()) + 12.0 * double(sizes_.n_layer) * T * C;
}

double Gpt::flopsPerSample() const { return double(sizes_.block_size) * flopsPerToken(); }

torch::jit::Module Gpt::toTorchScript() const {
  const std::string C = std::to_string(sizes_.n_embd);
  const std::string heads =
      std::to_string(sizes_.n_head) + ", " + std::to_string(sizes_.n_embd / sizes_.n_head);
  ScriptBuilder sb;
  torch::jit::Module root = sb.module("Gpt");
  root.register_module("wte", sb.params(*wte_, "Embedding"));
  root.register_module("wpe", sb.params(*wpe_, "Embedding"));
  torch::jit::Module h = sb.module("Blocks");
  std::string blocks_body;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const auto& b = *blocks_[i];
    torch::jit::Module attn = sb.module("Attention");
    attn.register_module("c_attn", sb.linear(b.attn->c_attn));
    attn.register_module("c_proj", sb.linear(b.attn->c_proj));
    // Mirrors gpt_detail::AttentionImpl::forward operation for operation. In define(), `torch`
    // names only the aten operators: dtypes such as torch.bool are not values, hence .gt(0).
    attn.define(R"(
def forward(self, x):
    B = x.size(0)
    T = x.size(1)
    qkv = self.c_attn.forward(x).split()" +
                C + R"(, 2)
    q = qkv[0].view([B, T, )" +
                heads + R"(]).transpose(1, 2)
    k = qkv[1].view([B, T, )" +
                heads + R"(]).transpose(1, 2)
    v = qkv[2].view([B, T, )" +
                heads + R"(]).transpose(1, 2)
    y = torch.scaled_dot_product_attention(q, k, v, None, 0.0, True)
    y = y.transpose(1, 2).contiguous().view([B, T, )" +
                C + R"(])
    return self.c_proj.forward(y)
)");
    torch::jit::Module mlp = sb.module("FeedForward");
    mlp.register_module("c_fc", sb.linear(b.mlp->c_fc));
    mlp.register_module("c_proj", sb.linear(b.mlp->c_proj));
    mlp.define(R"(
def forward(self, x):
    return self.c_proj.forward(torch.gelu(self.c_fc.forward(x), approximate='tanh'))
)");
    torch::jit::Module block = sb.module("Block");
    block.register_module("ln_1", sb.params(*b.ln_1, "LayerNorm"));
    block.register_module("attn", attn);
    block.register_module("ln_2", sb.params(*b.ln_2, "LayerNorm"));
    block.register_module("mlp", mlp);
    block.define("def forward(self, x):\n    x = x + self.attn.forward(" +
                 layerNormCall("ln_1", "x", sizes_.n_embd) + ")\n    return x + self.mlp.forward(" +
                 layerNormCall("ln_2", "x", sizes_.n_embd) + ")\n");
    h.register_module(std::to_string(i), block);
    // "0" is no identifier, hence getattr (what torch.jit.script emits for nn.ModuleList).
    blocks_body += "    x = getattr(self, '" + std::to_string(i) + "').forward(x)\n";
  }
  h.define("def forward(self, x):\n" + blocks_body + "    return x\n");
  root.register_module("h", h);
  root.register_module("ln_f", sb.params(*ln_f_, "LayerNorm"));
  root.define(R"(
def forward(self, idx):
    T = idx.size(1)
    pos = torch.arange(T, device=idx.device)
    x = torch.embedding(self.wte.weight, idx) + torch.embedding(self.wpe.weight, pos)
    x = self.h.forward(x)
    x = )" + layerNormCall("ln_f", "x", sizes_.n_embd) +
              R"(
    return torch.linear(x, self.wte.weight)
)");
  return root;
}

}  // namespace trainrun
