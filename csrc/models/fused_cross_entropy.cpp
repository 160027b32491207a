// fusedCrossEntropy: an autograd Function over kernels/' fused cross-entropy, CPU or CUDA.
#include "models/fused_cross_entropy.h"

#include <string>

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
  switch (t.scalar_type()) {
    case torch::kFloat:
      return kernels::Dtype::kFloat32;
    case torch::kHalf:
      return kernels::Dtype::kFloat16;
    case torch::kBFloat16:
      return kernels::Dtype::kBFloat16;
    default:
      throw Error(std::string("fused cross-entropy: logits of dtype ") +
                  c10::toString(t.scalar_type()) + " (float32, float16 or bfloat16 only)");
  }
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

class FusedCrossEntropy : public torch::autograd::Function<FusedCrossEntropy> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& logits,
                               const torch::Tensor& targets, int64_t ignore_index) {
    check(logits, targets);
    const auto fp32 = logits.options().dtype(torch::kFloat);
    torch::Tensor losses = torch::empty({logits.size(0)}, fp32);
    torch::Tensor lse = torch::empty({logits.size(0)}, fp32);
    const kernels::CrossEntropyRows rows = rowsOf(logits, targets, ignore_index);
    if (logits.is_cuda()) {
#if TRAINRUN_WITH_CUDA
      c10::cuda::CUDAGuard guard(logits.device());
      kernels::launchCrossEntropyForward(rows, losses.data_ptr<float>(), lse.data_ptr<float>(),
                                         c10::cuda::getCurrentCUDAStream().stream());
#else
      throw Error("fused cross-entropy: CUDA logits, but trainrun was built without CUDA");
#endif
    } else {
      kernels::crossEntropyForwardRef(rows, losses.data_ptr<float>(), lse.data_ptr<float>());
    }
    const torch::Tensor counted = targets.ne(ignore_index).sum().to(torch::kFloat);  // (): device
    ctx->save_for_backward({logits, targets, lse, counted});
    ctx->saved_data["ignore_index"] = ignore_index;
    return losses.sum() / counted;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const torch::autograd::variable_list saved = ctx->get_saved_variables();
    torch::Tensor logits = saved[0];
    const torch::Tensor &targets = saved[1], &lse = saved[2], &counted = saved[3];
    const int64_t ignore_index = ctx->saved_data["ignore_index"].toInt();
    // d(mean)/d(loss_r) = incoming / counted, kept on the device (no host read-back).
    const torch::Tensor scale = (grads[0].to(torch::kFloat) / counted).reshape({1}).contiguous();
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
    return {logits, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor fusedCrossEntropy(const torch::Tensor& logits, const torch::Tensor& targets,
                                int64_t ignore_index) {
  return FusedCrossEntropy::apply(logits, targets, ignore_index);
}

}  // namespace trainrun
