// Plain loops implementing the kernels' contracts on host memory (see reference.h).
#include "kernels/reference.h"

#include <cmath>
#include <cstring>

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

template <typename SrcIo, typename DstIo>
void castLoop(const void* src, void* dst, int64_t n, float scale) {
  const auto* s = static_cast<const typename SrcIo::Storage*>(src);
  auto* d = static_cast<typename DstIo::Storage*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = DstIo::store(SrcIo::load(s[i]) * scale);
}

template <typename SrcIo>
void castFrom(const void* src, void* dst, Dtype dst_dtype, int64_t n, float scale) {
  switch (dst_dtype) {
    case Dtype::kFloat32:
      return castLoop<SrcIo, HostF32>(src, dst, n, scale);
    case Dtype::kFloat16:
      return castLoop<SrcIo, HostF16>(src, dst, n, scale);
    case Dtype::kBFloat16:
      return castLoop<SrcIo, HostBf16>(src, dst, n, scale);
  }
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

void flattenRef(const FlatSegment* segments, int count, void* flat, size_t elem_size) {
  auto* base = static_cast<char*>(flat);
  for (int i = 0; i < count; ++i)
    std::memcpy(base + segments[i].offset * elem_size, segments[i].tensor,
                segments[i].numel * elem_size);
}

void unflattenRef(const FlatSegment* segments, int count, const void* flat, size_t elem_size) {
  const auto* base = static_cast<const char*>(flat);
  for (int i = 0; i < count; ++i)
    std::memcpy(segments[i].tensor, base + segments[i].offset * elem_size,
                segments[i].numel * elem_size);
}

void castRef(const void* src, Dtype src_dtype, void* dst, Dtype dst_dtype, int64_t n, float scale) {
  switch (src_dtype) {
    case Dtype::kFloat32:
      return castFrom<HostF32>(src, dst, dst_dtype, n, scale);
    case Dtype::kFloat16:
      return castFrom<HostF16>(src, dst, dst_dtype, n, scale);
    case Dtype::kBFloat16:
      return castFrom<HostBf16>(src, dst, dst_dtype, n, scale);
  }
}

}  // namespace trainrun::kernels
