// Bucket assignment for the gradient Reducer.
#include "ddp/bucket.h"

namespace trainrun {

std::vector<std::vector<size_t>> assignBuckets(const std::vector<torch::Tensor>& params,
                                               int64_t first_cap_bytes, int64_t cap_bytes) {
  std::vector<std::vector<size_t>> buckets;
  int64_t bytes = 0;
  bool full = true;  // no open bucket yet
  for (size_t k = params.size(); k-- > 0;) {
    const torch::Tensor& p = params[k];
    bool dtype_change =
        !buckets.empty() && params[buckets.back().front()].scalar_type() != p.scalar_type();
    if (full || dtype_change) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().push_back(k);
    bytes += p.numel() * static_cast<int64_t>(p.element_size());
    full = bytes >= (buckets.size() == 1 ? first_cap_bytes : cap_bytes);
  }
  return buckets;
}

}  // namespace trainrun
