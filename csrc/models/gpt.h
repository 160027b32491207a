// The built-in GPT: a GPT-2 style decoder-only transformer with a tied LM head.
#pragma once

#include <memory>
#include <vector>

#include "models/model.h"

namespace trainrun {

struct GptSizes {
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_embd = 0;
  int64_t block_size = 0;  // context length
  int64_t vocab_size = 0;  // 0: not fixed by the config, take the data's vocabulary
};

// The sizes model.name and the model.* size keys ask for: the preset's values, each replaced by
// the key when that is nonzero. Throws ConfigError for a size model.name=gpt leaves unset.
GptSizes gptSizes(const config::JobConfig& config);

namespace gpt_detail {
class BlockImpl;  // one pre-LayerNorm transformer block, defined in gpt.cpp
}

// Parameter names follow nanoGPT without its "transformer." prefix: wte, wpe, h.<i>.ln_1,
// h.<i>.attn.c_attn, h.<i>.attn.c_proj, h.<i>.ln_2, h.<i>.mlp.c_fc, h.<i>.mlp.c_proj, ln_f.
// There is no lm_head parameter: logits = ln_f(h) @ wte.weight^T.
class Gpt : public Model {
 public:
  // Throws ConfigError when n_embd is not divisible by n_head or a size is not positive.
  // `fused_norm` (model.fused_norm): each residual add and the LayerNorm after it run as one
  // kernel (fusedAddLayerNorm); same parameters, same function to rounding.
  explicit Gpt(const GptSizes& sizes, bool fused_norm = false);
  // (B, T) int64 token ids, T <= block_size -> (B, T, vocab_size) logits; position t sees
  // tokens 0..t only.
  torch::Tensor forward(const torch::Tensor& idx) override;
  // The same loss as cross-entropy of forward(idx) against y (B, T), with the head and the
  // loss fused and the logits' rows padded to 64 columns (fusedHeadCrossEntropy).
  std::optional<torch::Tensor> fusedLoss(const torch::Tensor& idx, const torch::Tensor& y) override;
  // Forward + backward FLOPs for one block_size-token sequence: block_size * flopsPerToken().
  double flopsPerSample() const override;
  // 6 * N + 12 * n_layer * block_size * n_embd (the PaLM / nanoGPT estimate), where N counts
  // every parameter except the position embedding: the tied token embedding is a matmul (the
  // LM head), the position embedding only a lookup. The second term is attention's
  // QK^T and AV matmuls at full context, forward and backward.
  double flopsPerToken() const;
  // N of flopsPerToken: parameters that take part in a matmul (all but wpe).
  int64_t numMatmulParams() const;
  torch::jit::Module toTorchScript() const override;
  const GptSizes& sizes() const { return sizes_; }

 private:
  torch::Tensor trunk(const torch::Tensor& idx);          // (B, T) -> (B, T, C): all but the head
  torch::Tensor fusedNormBlocks(const torch::Tensor& x);  // the blocks and ln_f, fused adds

  GptSizes sizes_;
  bool fused_norm_;
  torch::nn::Embedding wte_{nullptr};  // (vocab_size, n_embd), also the LM head
  torch::nn::Embedding wpe_{nullptr};  // (block_size, n_embd)
  std::vector<std::shared_ptr<gpt_detail::BlockImpl>> blocks_;
  torch::nn::LayerNorm ln_f_{nullptr};
};

}  // namespace trainrun
