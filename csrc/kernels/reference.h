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

}  // namespace trainrun::kernels
