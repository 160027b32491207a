// fusedCrossEntropy: an autograd Function over kernels/' fused cross-entropy, CPU or CUDA.
#include "models/fused_cross_entropy.h"

#include <ATen/autocast_mode.h>

#include <optional>
#include <string>

#include "amp/grad_groups.h"
#include "core/error.h"
#include "kernels/reference.h"

#if TRAINRUN_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "kernels/cuda_kernels.h"
#endif

namespace trainrun {
namespace {

kernels::Dtype dtypeOf(const torch::Tensor& t) {
  return requireKernelDtype(t.scalar_type(), "fused cross-entropy: logits");
}

kernels::CrossEntropyRows rowsOf(const torch::Tensor& logits, const torch::Tensor& targets,
                                 int64_t ignore_index) {
  kernels::CrossEntropyRows rows;
  rows.logits = logits.data_ptr();
  rows.rows = logits.size(0);
  rows.vocab = logits.size(1);
  rows.stride = logits.stride(0);
  rows.dtype = dtypeOf(logits);
  rows.targets = targets.data_ptr<int64_t>();
  rows.ignore_index = ignore_index;
  return rows;
}

void check(const torch::Tensor& logits, const torch::Tensor& targets) {
  if (logits.dim() != 2 || logits.stride(1) != 1 || logits.stride(0) < logits.size(1))
    throw Error("fused cross-entropy: logits must be (N, V) rows with unit column stride");
  if (targets.dim() != 1 || targets.size(0) != logits.size(0) ||
      targets.scalar_type() != torch::kLong || !targets.is_contiguous())
    throw Error("fused cross-entropy: targets must be (N,) contiguous int64, one per row");
  if (targets.device() != logits.device())
    throw Error("fused cross-entropy: logits and targets on different devices");
  if (!logits.is_cpu() && !logits.is_cuda())
    throw Error("fused cross-entropy: logits on " + logits.device().str() + " (CPU or CUDA)");
  dtypeOf(logits);
}

// The forward's results: the mean loss, each row's log-sum-exp, the rows counted (device).
struct LossRows {
  torch::Tensor loss, lse, counted;
};

LossRows lossForward(const torch::Tensor& logits, const torch::Tensor& targets,
                     int64_t ignore_index) {
  const auto fp32 = logits.options().dtype(torch::kFloat);
  torch::Tensor losses = torch::empty({logits.size(0)}, fp32);
  LossRows out;
  out.lse = torch::empty({logits.size(0)}, fp32);
  const kernels::CrossEntropyRows rows = rowsOf(logits, targets, ignore_index);
  if (logits.is_cuda()) {
#if TRAINRUN_WITH_CUDA
    c10::cuda::CUDAGuard guard(logits.device());
    kernels::launchCrossEntropyForward(rows, losses.data_ptr<float>(), out.lse.data_ptr<float>(),
                                       c10::cuda::getCurrentCUDAStream().stream());
#else
    throw Error("fused cross-entropy: CUDA logits, but trainrun was built without CUDA");
#endif
  } else {
    kernels::crossEntropyForwardRef(rows, losses.data_ptr<float>(), out.lse.data_ptr<float>());
  }
  out.counted = targets.ne(ignore_index).sum().to(torch::kFloat);  // (): on the device
  out.loss = losses.sum() / out.counted;
  return out;
}

// Writes d(loss)/d(logits) x `incoming` over the logits' first V columns of each row.
void lossBackward(const torch::Tensor& logits, const torch::Tensor& targets, int64_t ignore_index,
                  const torch::Tensor& lse, const torch::Tensor& counted,
                  const torch::Tensor& incoming) {
  // d(mean)/d(loss_r) = incoming / counted, kept on the device (no host read-back).
  const torch::Tensor scale = (incoming.to(torch::kFloat) / counted).reshape({1}).contiguous();
  const kernels::CrossEntropyRows rows = rowsOf(logits, targets, ignore_index);
  if (logits.is_cuda()) {
#if TRAINRUN_WITH_CUDA
    c10::cuda::CUDAGuard guard(logits.device());
    kernels::launchCrossEntropyBackward(rows, lse.data_ptr<float>(), scale.data_ptr<float>(),
                                        c10::cuda::getCurrentCUDAStream().stream());
#endif
  } else {
    kernels::crossEntropyBackwardRef(rows, lse.data_ptr<float>(), scale.item<float>());
  }
}

class FusedCrossEntropy : public torch::autograd::Function<FusedCrossEntropy> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& logits,
                               const torch::Tensor& targets, int64_t ignore_index) {
    check(logits, targets);
    const LossRows out = lossForward(logits, targets, ignore_index);
    ctx->save_for_backward({logits, targets, out.lse, out.counted});
    ctx->saved_data["ignore_index"] = ignore_index;
    return out.loss;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const torch::autograd::variable_list saved = ctx->get_saved_variables();
    torch::Tensor logits = saved[0];
    const torch::Tensor &targets = saved[1], &lse = saved[2], &counted = saved[3];
    const int64_t ignore_index = ctx->saved_data["ignore_index"].toInt();
    lossBackward(logits, targets, ignore_index, lse, counted, grads[0]);
    return {logits, torch::Tensor(), torch::Tensor()};
  }
};

class FusedHeadCrossEntropy : public torch::autograd::Function<FusedHeadCrossEntropy> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& hidden,
                               const torch::Tensor& weight, const torch::Tensor& targets,
                               int64_t pad_to, int64_t ignore_index) {
    if (hidden.dim() != 2 || weight.dim() != 2 || hidden.size(1) != weight.size(1) || pad_to < 1)
      throw Error("fused head: hidden (N, C), weight (V, C) and pad_to >= 1 expected");
    const c10::DeviceType type = hidden.device().type();
    const torch::ScalarType dtype = at::autocast::is_autocast_enabled(type)
                                        ? at::autocast::get_autocast_dtype(type)
                                        : hidden.scalar_type();
    const int64_t vocab = weight.size(0), padded = (vocab + pad_to - 1) / pad_to * pad_to;
    const torch::Tensor x = hidden.to(dtype);
    torch::Tensor w = torch::zeros({padded, weight.size(1)}, weight.options().dtype(dtype));
    w.narrow(0, 0, vocab).copy_(weight);
    const torch::Tensor logits = torch::mm(x, w.t());  // (N, padded); columns >= V are 0
    const torch::Tensor rows = logits.narrow(1, 0, vocab);
    check(rows, targets);
    const LossRows out = lossForward(rows, targets, ignore_index);
    ctx->save_for_backward({x, w, logits, targets, out.lse, out.counted});
    ctx->saved_data["ignore_index"] = ignore_index;
    ctx->saved_data["vocab"] = vocab;
    ctx->saved_data["hidden_dtype"] = hidden.scalar_type();
    ctx->saved_data["weight_dtype"] = weight.scalar_type();
    return out.loss;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const torch::autograd::variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &w = saved[1], &logits = saved[2];
    const int64_t vocab = ctx->saved_data["vocab"].toInt();
    const torch::Tensor rows = logits.narrow(1, 0, vocab);
    lossBackward(rows, saved[3], ctx->saved_data["ignore_index"].toInt(), saved[4], saved[5],
                 grads[0]);
    // The padding columns hold the forward's zeros: they add nothing to either product.
    const torch::Tensor grad_hidden =
        torch::mm(logits, w).to(ctx->saved_data["hidden_dtype"].toScalarType());
    const torch::Tensor grad_weight =
        torch::mm(rows.t(), x).to(ctx->saved_data["weight_dtype"].toScalarType());
    return {grad_hidden, grad_weight, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor fusedHeadCrossEntropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                    const torch::Tensor& targets, int64_t pad_to,
                                    int64_t ignore_index) {
  return FusedHeadCrossEntropy::apply(hidden, weight, targets, pad_to, ignore_index);
}

torch::Tensor fusedCrossEntropy(const torch::Tensor& logits, const torch::Tensor& targets,
                                int64_t ignore_index) {
  return FusedCrossEntropy::apply(logits, targets, ignore_index);
}

}  // namespace trainrun
