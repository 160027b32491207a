// Plain loops implementing the kernels' contracts on host memory (see reference.h).
#include "kernels/reference.h"

#include <algorithm>
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

bool targetInRange(int64_t t, int64_t vocab) { return t >= 0 && t < vocab; }

template <typename Io>
void crossEntropyForwardRows(const CrossEntropyRows& r, float* losses, float* lse) {
  for (int64_t row = 0; row < r.rows; ++row) {
    const auto* x = static_cast<const typename Io::Storage*>(r.logits) + row * r.stride;
    const int64_t t = r.targets[row];
    losses[row] = 0.0f;
    lse[row] = 0.0f;
    if (t == r.ignore_index) continue;
    float m = -INFINITY;
    for (int64_t j = 0; j < r.vocab; ++j) m = std::max(m, Io::load(x[j]));
    double sum = 0.0;
    for (int64_t j = 0; j < r.vocab; ++j) sum += std::exp(double(Io::load(x[j]) - m));
    lse[row] = m + float(std::log(sum));
    losses[row] = targetInRange(t, r.vocab) ? lse[row] - Io::load(x[t]) : NAN;
  }
}

template <typename Io>
void crossEntropyBackwardRows(const CrossEntropyRows& r, const float* lse, float scale) {
  for (int64_t row = 0; row < r.rows; ++row) {
    auto* x = static_cast<typename Io::Storage*>(r.logits) + row * r.stride;
    const int64_t t = r.targets[row];
    const bool live = t != r.ignore_index && targetInRange(t, r.vocab);
    for (int64_t j = 0; j < r.vocab; ++j) {
      const float p = live ? std::exp(Io::load(x[j]) - lse[row]) : 0.0f;
      x[j] = Io::store((p - (live && j == t ? 1.0f : 0.0f)) * scale);
    }
  }
}

}  // namespace

void crossEntropyForwardRef(const CrossEntropyRows& rows, float* losses, float* lse) {
  switch (rows.dtype) {
    case Dtype::kFloat32:
      return crossEntropyForwardRows<HostF32>(rows, losses, lse);
    case Dtype::kFloat16:
      return crossEntropyForwardRows<HostF16>(rows, losses, lse);
    case Dtype::kBFloat16:
      return crossEntropyForwardRows<HostBf16>(rows, losses, lse);
  }
}

void crossEntropyBackwardRef(const CrossEntropyRows& rows, const float* lse, float scale) {
  switch (rows.dtype) {
    case Dtype::kFloat32:
      return crossEntropyBackwardRows<HostF32>(rows, lse, scale);
    case Dtype::kFloat16:
      return crossEntropyBackwardRows<HostF16>(rows, lse, scale);
    case Dtype::kBFloat16:
      return crossEntropyBackwardRows<HostBf16>(rows, lse, scale);
  }
}

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
