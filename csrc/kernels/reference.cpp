// Plain loops implementing the kernels' contracts on host memory (see reference.h).
#include "kernels/reference.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/dtype_dispatch.h"
#include "kernels/element_io.h"

namespace trainrun::kernels {
namespace {

using HostElements = ElementSet<HostF32, HostF16, HostBf16>;

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

template <typename S, typename B, typename N>
void addNormForwardRows(const AddNormRows& r, const AddNormForward& a) {
  const int64_t C = r.width;
  for (int64_t row = 0; row < r.rows; ++row) {
    const auto* res = static_cast<const typename S::Storage*>(a.residual) + row * C;
    const auto* br = static_cast<const typename B::Storage*>(a.branch) + (a.branch ? row * C : 0);
    auto* sum = static_cast<typename S::Storage*>(a.sum) + (a.branch ? row * C : 0);
    auto* out = static_cast<typename N::Storage*>(a.normed) + row * C;
    std::vector<float> s(C);
    double total = 0.0;
    for (int64_t j = 0; j < C; ++j) {
      if (a.branch) {
        sum[j] = S::store(S::load(res[j]) + B::load(br[j]));
        s[j] = S::load(sum[j]);
      } else {
        s[j] = S::load(res[j]);
      }
      total += s[j];
    }
    const double mean = total / double(C);
    double squares = 0.0;
    for (int64_t j = 0; j < C; ++j) squares += (s[j] - mean) * (s[j] - mean);
    const float rstd = float(1.0 / std::sqrt(squares / double(C) + double(r.eps)));
    a.mean[row] = float(mean);
    a.rstd[row] = rstd;
    for (int64_t j = 0; j < C; ++j)
      out[j] = N::store((s[j] - float(mean)) * rstd * a.weight[j] + a.bias[j]);
  }
}

template <typename S, typename B, typename N>
void addNormBackwardRows(const AddNormRows& r, const AddNormBackward& a) {
  const int64_t C = r.width;
  std::vector<double> dw(C, 0.0), db(C, 0.0);
  std::vector<float> xhat(C), g(C);
  for (int64_t row = 0; row < r.rows; ++row) {
    const auto* dn = static_cast<const typename N::Storage*>(a.grad_normed) + row * C;
    const auto* ds =
        static_cast<const typename S::Storage*>(a.grad_sum) + (a.grad_sum ? row * C : 0);
    const auto* s = static_cast<const typename S::Storage*>(a.sum) + row * C;
    auto* gs = static_cast<typename S::Storage*>(a.grad_stream) + row * C;
    auto* gb = static_cast<typename B::Storage*>(a.grad_branch) + (a.grad_branch ? row * C : 0);
    double g_mean = 0.0, gx_mean = 0.0;
    for (int64_t j = 0; j < C; ++j) {
      const float d = N::load(dn[j]);
      xhat[j] = (S::load(s[j]) - a.mean[row]) * a.rstd[row];
      g[j] = d * a.weight[j];
      g_mean += g[j];
      gx_mean += double(g[j]) * xhat[j];
      dw[j] += double(d) * xhat[j];
      db[j] += d;
    }
    g_mean /= double(C);
    gx_mean /= double(C);
    for (int64_t j = 0; j < C; ++j) {
      float total = a.rstd[row] * (g[j] - float(g_mean) - xhat[j] * float(gx_mean));
      if (a.grad_sum) total += S::load(ds[j]);
      gs[j] = S::store(total);
      if (a.grad_branch) gb[j] = B::store(total);
    }
  }
  for (int64_t j = 0; j < C; ++j) {
    a.grad_weight[j] = float(dw[j]);
    a.grad_bias[j] = float(db[j]);
  }
}

template <typename S, typename B, typename N>
struct AddNormForwardPass {
  static void run(const AddNormRows& r, const AddNormForward& a) {
    addNormForwardRows<S, B, N>(r, a);
  }
};

template <typename S, typename B, typename N>
struct AddNormBackwardPass {
  static void run(const AddNormRows& r, const AddNormBackward& a) {
    addNormBackwardRows<S, B, N>(r, a);
  }
};

}  // namespace

void addNormForwardRef(const AddNormRows& rows, const AddNormForward& args) {
  HostElements::with3<AddNormForwardPass>(rows.stream, rows.branch, rows.normed, rows, args);
}

void addNormBackwardRef(const AddNormRows& rows, const AddNormBackward& args) {
  HostElements::with3<AddNormBackwardPass>(rows.stream, rows.branch, rows.normed, rows, args);
}

void crossEntropyForwardRef(const CrossEntropyRows& rows, float* losses, float* lse) {
  HostElements::with(rows.dtype, [&](auto e) {
    crossEntropyForwardRows<typename decltype(e)::type>(rows, losses, lse);
  });
}

void crossEntropyBackwardRef(const CrossEntropyRows& rows, const float* lse, float scale) {
  HostElements::with(rows.dtype, [&](auto e) {
    crossEntropyBackwardRows<typename decltype(e)::type>(rows, lse, scale);
  });
}

bool unscaleAndCheckRef(const TensorChunk* chunks, int count, Dtype dtype, float inv_scale) {
  return HostElements::with(dtype, [&](auto e) {
    bool found_inf = false;
    for (int i = 0; i < count; ++i)
      found_inf |= unscaleChunk<typename decltype(e)::type>(chunks[i], inv_scale);
    return found_inf;
  });
}

}  // namespace trainrun::kernels
