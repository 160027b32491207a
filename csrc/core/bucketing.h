// Gradient bucket assignment by sizes alone: the Reducer's rule, also run by the predictor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace trainrun {

// One parameter as bucketing sees it: its gradient's bytes and a dtype code (any integer; a
// change of code closes the bucket).
struct GradSize {
  int64_t bytes = 0;
  int dtype = 0;
};

// Groups parameters into buckets in reverse registration order (backward produces the last
// layer's gradients first). The first bucket holds about `first_cap_bytes` so communication
// starts early; later ones about `cap_bytes`. A dtype change or a full bucket closes it; a
// parameter larger than the cap gets a bucket of its own. Returns parameter indices.
inline std::vector<std::vector<size_t>> assignBucketsBySize(const std::vector<GradSize>& params,
                                                            int64_t first_cap_bytes,
                                                            int64_t cap_bytes) {
  std::vector<std::vector<size_t>> buckets;
  int64_t bytes = 0;
  bool full = true;  // no open bucket yet
  for (size_t k = params.size(); k-- > 0;) {
    const bool dtype_change =
        !buckets.empty() && params[buckets.back().front()].dtype != params[k].dtype;
    if (full || dtype_change) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().push_back(k);
    bytes += params[k].bytes;
    full = bytes >= (buckets.size() == 1 ? first_cap_bytes : cap_bytes);
  }
  return buckets;
}

}  // namespace trainrun
