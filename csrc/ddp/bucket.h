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

// Groups parameters into buckets in reverse registration order (backward produces the last
// layer's gradients first). The first bucket holds about `first_cap_bytes` so communication
// starts early; later ones about `cap_bytes`. A dtype change or a full bucket closes it; a
// parameter larger than the cap gets a bucket of its own. Returns parameter indices.
std::vector<std::vector<size_t>> assignBuckets(const std::vector<torch::Tensor>& params,
                                               int64_t first_cap_bytes, int64_t cap_bytes);

}  // namespace trainrun
