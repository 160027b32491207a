// Bucket assignment for the gradient Reducer.
#include "ddp/bucket.h"

#include "core/bucketing.h"

namespace trainrun {

std::vector<std::vector<size_t>> assignBuckets(const std::vector<torch::Tensor>& params,
                                               int64_t first_cap_bytes, int64_t cap_bytes) {
  std::vector<GradSize> sizes;
  sizes.reserve(params.size());
  for (const torch::Tensor& p : params)
    sizes.push_back(
        {p.numel() * static_cast<int64_t>(p.element_size()), static_cast<int>(p.scalar_type())});
  return assignBucketsBySize(sizes, first_cap_bytes, cap_bytes);
}

}  // namespace trainrun
