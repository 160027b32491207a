// CPU references of the CUDA kernels: the definition of what each kernel must compute.
#pragma once

#include <cstdint>

#include "kernels/dtype.h"

namespace trainrun::kernels {

// In place: g = g * inv_scale for every element of every chunk, computed in fp32 and stored
// back in `dtype`. Returns true if any element was non-finite BEFORE scaling (the check
// torch.cuda.amp.GradScaler makes), so one pass both unscales and detects overflow.
bool unscaleAndCheckRef(const TensorChunk* chunks, int count, Dtype dtype, float inv_scale);

// Rows of logits for the fused cross-entropy: `rows` rows of `vocab` logits in `dtype`, row r
// at logits + r * stride elements (stride >= vocab: a padded row's extra columns are neither
// read nor written), and one int64 target per row.
struct CrossEntropyRows {
  void* logits = nullptr;
  int64_t rows = 0;
  int64_t vocab = 0;
  int64_t stride = 0;
  Dtype dtype = Dtype::kFloat32;
  const int64_t* targets = nullptr;
  int64_t ignore_index = -100;  // PyTorch's default
};

// The forward: for each row with target t != ignore_index, computed in fp32 from the stored
// logits x: lse[r] = log(sum_j exp(x_j)) (max-shifted) and losses[r] = lse[r] - x_t. An ignored
// row gives losses[r] = 0 and lse[r] = 0; a target outside [0, vocab) gives losses[r] = NaN
// (never a read out of the row). The logits are not written: the backward reads them again.
void crossEntropyForwardRef(const CrossEntropyRows& rows, float* losses, float* lse);

// The backward, in place: each row's logits become d(loss)/d(logits) times `scale`, from the
// forward's lse: x_j <- (exp(x_j - lse[r]) - [j == t]) * scale, stored in dtype. An ignored row,
// or one whose target is out of range, becomes 0. One read and one write of each logit, and no
// fp32 copy of the logits (what log_softmax and its backward cost otherwise).
void crossEntropyBackwardRef(const CrossEntropyRows& rows, const float* lse, float scale);

// A residual add and the LayerNorm that follows it (a pre-LayerNorm transformer's
// x = x + f(..); h = LN(x)), row by row: `rows` contiguous rows of `width` elements. The stream
// (residual, sum and their gradients), the branch added and the normed output each have their
// own dtype, so under autocast the fp32 stream takes a bf16 branch and writes the bf16 input of
// the next matmul directly. The LayerNorm's weight and bias, its statistics and all arithmetic
// are fp32.
struct AddNormRows {
  int64_t rows = 0;
  int64_t width = 0;
  Dtype stream = Dtype::kFloat32;
  Dtype branch = Dtype::kFloat32;
  Dtype normed = Dtype::kFloat32;
  float eps = 1e-5f;  // torch.nn.LayerNorm's default
};

struct AddNormForward {
  const void* residual = nullptr;  // stream dtype
  const void* branch = nullptr;    // branch dtype; nullptr: no add, the LayerNorm of residual
  const float* weight = nullptr;   // (width)
  const float* bias = nullptr;     // (width)
  void* sum = nullptr;             // stream dtype; written when branch is given
  void* normed = nullptr;          // normed dtype
  float* mean = nullptr;           // (rows)
  float* rstd = nullptr;           // (rows)
};

// The forward: s = residual + branch, stored in the stream dtype; the LayerNorm reads s as
// stored (the rounding an unfused add would leave): mean and variance (biased) over the row,
// rstd = 1 / sqrt(var + eps), normed = (s - mean) * rstd * weight + bias.
void addNormForwardRef(const AddNormRows& rows, const AddNormForward& args);

struct AddNormBackward {
  const void* grad_normed = nullptr;  // normed dtype
  const void* grad_sum = nullptr;     // stream dtype; nullptr: the sum feeds nothing else
  const void* sum = nullptr;          // stream dtype: the forward's sum (its residual if no add)
  const float* weight = nullptr;
  const float* mean = nullptr;
  const float* rstd = nullptr;
  void* grad_stream = nullptr;   // stream dtype: d(sum) in all, which is d(residual)
  void* grad_branch = nullptr;   // branch dtype, the same values; nullptr: not wanted
  float* grad_weight = nullptr;  // (width), overwritten
  float* grad_bias = nullptr;    // (width), overwritten
};

// The backward: with xhat = (s - mean) * rstd and g = grad_normed * weight, d(sum) = grad_sum +
// rstd * (g - mean(g) - xhat * mean(g * xhat)) over each row; grad_weight = sum over rows of
// grad_normed * xhat, grad_bias = sum over rows of grad_normed.
void addNormBackwardRef(const AddNormRows& rows, const AddNormBackward& args);

// The CUDA backward's column reduction: rows per part, the parts for `rows`, and the fp32
// workspace it takes (a weight and a bias partial per part and column).
inline constexpr int64_t kAddNormRowsPerPart = 256;
inline int64_t addNormParts(int64_t rows) {
  return (rows + kAddNormRowsPerPart - 1) / kAddNormRowsPerPart;
}
inline int64_t addNormWorkspaceFloats(const AddNormRows& rows) {
  return 2 * addNormParts(rows.rows) * rows.width;
}

}  // namespace trainrun::kernels
