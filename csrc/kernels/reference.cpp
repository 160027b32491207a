// Plain loops implementing the kernels' contracts on host memory (see reference.h).
#include "kernels/reference.h"

#include <cmath>

#include "kernels/element_io.h"

namespace trainrun::kernels {
namespace {

template <typename Io>
bool unscaleChunk(const TensorChunk& c, float inv_scale) {
  auto* p = static_cast<typename Io::Storage*>(c.data);
  bool found_inf = false;
  for (int64_t i = 0; i < c.numel; ++i) {
    const float v = Io::load(p[i]);
    found_inf |= !std::isfinite(v);
    p[i] = Io::store(v * inv_scale);
  }
  return found_inf;
}

}  // namespace

bool unscaleAndCheckRef(const TensorChunk* chunks, int count, Dtype dtype, float inv_scale) {
  bool found_inf = false;
  for (int i = 0; i < count; ++i) {
    switch (dtype) {
      case Dtype::kFloat32:
        found_inf |= unscaleChunk<HostF32>(chunks[i], inv_scale);
        break;
      case Dtype::kFloat16:
        found_inf |= unscaleChunk<HostF16>(chunks[i], inv_scale);
        break;
      case Dtype::kBFloat16:
        found_inf |= unscaleChunk<HostBf16>(chunks[i], inv_scale);
        break;
    }
  }
  return found_inf;
}

}  // namespace trainrun::kernels
