// Gradient buckets: which parameters share one flat all-reduce buffer, in backward order.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace trainrun {

// One flat buffer all-reduced as a unit. Parameter gradients are views into `flat`, so
// autograd accumulates straight into it and no copy happens before communication.
struct Bucket {
  torch::Tensor flat;            // (numel,) one dtype, contiguous
  std::vector<size_t> params;    // indices into the Reducer's parameter list
  std::vector<int64_t> offsets;  // element offset of each parameter in `flat`
  torch::Tensor wire;            // (numel,) the compressed copy sent instead; undefined if none
};

// The parameters' buckets by core/bucketing.h's rule (reverse order, a small first bucket).
std::vector<std::vector<size_t>> assignBuckets(const std::vector<torch::Tensor>& params,
                                               int64_t first_cap_bytes, int64_t cap_bytes);

}  // namespace trainrun
