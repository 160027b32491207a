// fusedAddLayerNorm: an autograd Function over kernels/' fused add + LayerNorm, CPU or CUDA.
#include "models/fused_add_norm.h"

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
  return requireKernelDtype(t.scalar_type(), "fused add + LayerNorm: a tensor");
}

#if TRAINRUN_WITH_CUDA
cudaStream_t currentStream() { return c10::cuda::getCurrentCUDAStream().stream(); }
#endif

// The dtype `normed` is written in: what the next matmul takes under autocast.
torch::ScalarType normedDtype(const torch::Tensor& sum) {
  const c10::DeviceType type = sum.device().type();
  return at::autocast::is_autocast_enabled(type) ? at::autocast::get_autocast_dtype(type)
                                                 : sum.scalar_type();
}

class FusedAddNormFunction : public torch::autograd::Function<FusedAddNormFunction> {
 public:
  // -> {normed} without a branch, {sum, normed} with one.
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const torch::Tensor& residual,
                                                const torch::Tensor& branch,
                                                const torch::Tensor& weight,
                                                const torch::Tensor& bias, double eps, bool added) {
    const int64_t C = residual.size(-1);
    if (residual.dim() < 1 || weight.numel() != C || bias.numel() != C ||
        (added && branch.sizes() != residual.sizes()))
      throw Error("fused add + LayerNorm: residual and branch (..., C), weight and bias (C,)");
    if (!residual.is_cpu() && !residual.is_cuda())
      throw Error("fused add + LayerNorm: tensors on " + residual.device().str() +
                  " (CPU or CUDA)");
    const torch::ScalarType stream =
        added ? torch::result_type(residual, branch) : residual.scalar_type();
    const torch::Tensor x = residual.to(stream).contiguous();
    const torch::Tensor b = added ? branch.contiguous() : torch::Tensor();
    const torch::Tensor w = weight.to(torch::kFloat).contiguous();
    const torch::Tensor bi = bias.to(torch::kFloat).contiguous();
    const torch::Tensor sum = added ? torch::empty_like(x) : x;
    const torch::Tensor normed = torch::empty_like(x, x.options().dtype(normedDtype(x)));
    const auto fp32 = x.options().dtype(torch::kFloat);
    const torch::Tensor mean = torch::empty({x.numel() / std::max<int64_t>(C, 1)}, fp32);
    const torch::Tensor rstd = torch::empty_like(mean);

    kernels::AddNormRows rows;
    rows.rows = mean.numel();
    rows.width = C;
    rows.stream = dtypeOf(x);
    rows.branch = added ? dtypeOf(b) : rows.stream;
    rows.normed = dtypeOf(normed);
    rows.eps = static_cast<float>(eps);
    kernels::AddNormForward args;
    args.residual = x.data_ptr();
    args.branch = added ? b.data_ptr() : nullptr;
    args.weight = w.data_ptr<float>();
    args.bias = bi.data_ptr<float>();
    args.sum = added ? sum.data_ptr() : nullptr;
    args.normed = normed.data_ptr();
    args.mean = mean.data_ptr<float>();
    args.rstd = rstd.data_ptr<float>();
    if (x.is_cuda()) {
#if TRAINRUN_WITH_CUDA
      c10::cuda::CUDAGuard guard(x.device());
      kernels::launchAddNormForward(rows, args, currentStream());
#else
      throw Error("fused add + LayerNorm: CUDA tensors, but trainrun was built without CUDA");
#endif
    } else {
      kernels::addNormForwardRef(rows, args);
    }
    ctx->save_for_backward({sum, w, mean, rstd});
    ctx->saved_data["added"] = added;
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["residual_dtype"] = residual.scalar_type();
    ctx->saved_data["branch_dtype"] = added ? branch.scalar_type() : stream;
    ctx->saved_data["weight_dtype"] = weight.scalar_type();
    ctx->saved_data["bias_dtype"] = bias.scalar_type();
    if (added) return {sum, normed};
    return {normed};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const torch::autograd::variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &sum = saved[0], &w = saved[1], &mean = saved[2], &rstd = saved[3];
    const bool added = ctx->saved_data["added"].toBool();
    const torch::Tensor grad_sum =
        added && grads[0].defined() ? grads[0].to(sum.scalar_type()).contiguous() : torch::Tensor();
    torch::Tensor grad_normed = grads[added ? 1 : 0];
    grad_normed = grad_normed.defined() ? grad_normed.contiguous() : torch::zeros_like(sum);
    const auto branch_dtype = ctx->saved_data["branch_dtype"].toScalarType();
    const bool branch_apart = added && branch_dtype != sum.scalar_type();
    const torch::Tensor grad_stream = torch::empty_like(sum);
    const torch::Tensor grad_branch =
        branch_apart ? torch::empty_like(sum, sum.options().dtype(branch_dtype)) : torch::Tensor();
    const torch::Tensor grad_weight = torch::empty_like(w), grad_bias = torch::empty_like(w);

    kernels::AddNormRows rows;
    rows.rows = mean.numel();
    rows.width = w.numel();
    rows.stream = dtypeOf(sum);
    rows.branch = branch_apart ? dtypeOf(grad_branch) : rows.stream;
    rows.normed = dtypeOf(grad_normed);
    rows.eps = static_cast<float>(ctx->saved_data["eps"].toDouble());
    kernels::AddNormBackward args;
    args.grad_normed = grad_normed.data_ptr();
    args.grad_sum = grad_sum.defined() ? grad_sum.data_ptr() : nullptr;
    args.sum = sum.data_ptr();
    args.weight = w.data_ptr<float>();
    args.mean = mean.data_ptr<float>();
    args.rstd = rstd.data_ptr<float>();
    args.grad_stream = grad_stream.data_ptr();
    args.grad_branch = branch_apart ? grad_branch.data_ptr() : nullptr;
    args.grad_weight = grad_weight.data_ptr<float>();
    args.grad_bias = grad_bias.data_ptr<float>();
    if (sum.is_cuda()) {
#if TRAINRUN_WITH_CUDA
      c10::cuda::CUDAGuard guard(sum.device());
      const torch::Tensor workspace =
          torch::empty({kernels::addNormWorkspaceFloats(rows)}, w.options());
      kernels::launchAddNormBackward(rows, args, workspace.data_ptr<float>(), currentStream());
#endif
    } else {
      kernels::addNormBackwardRef(rows, args);
    }
    const torch::Tensor grad_residual =
        grad_stream.to(ctx->saved_data["residual_dtype"].toScalarType());
    return {grad_residual,
            added ? (branch_apart ? grad_branch : grad_stream) : torch::Tensor(),
            grad_weight.to(ctx->saved_data["weight_dtype"].toScalarType()),
            grad_bias.to(ctx->saved_data["bias_dtype"].toScalarType()),
            torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

AddNorm fusedAddLayerNorm(const torch::Tensor& residual, const torch::Tensor& branch,
                          const torch::Tensor& weight, const torch::Tensor& bias, double eps) {
  // Autograd functions take defined tensors only: no branch is an empty stand-in.
  const bool added = branch.defined();
  const torch::autograd::variable_list out = FusedAddNormFunction::apply(
      residual, added ? branch : residual.new_empty({0}), weight, bias, eps, added);
  if (!added) return {residual, out[0]};
  return {out[0], out[1]};
}

}  // namespace trainrun
