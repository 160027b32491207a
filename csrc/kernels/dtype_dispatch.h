// One switch from a Dtype to its element type, for the host references and the CUDA launchers.
#pragma once

#include "kernels/dtype.h"

namespace trainrun::kernels {

template <typename T>
struct TypeTag {
  using type = T;
};

// The element types of one side: HostF32/HostF16/HostBf16 (element_io.h) or DevF32/DevF16/
// DevBf16 (device_io.cuh).
template <typename F32, typename F16, typename Bf16>
struct ElementSet {
  // fn(TypeTag<E>{}) with E the element type of `d`; fn returns the same type for each.
  template <typename Fn>
  static decltype(auto) with(Dtype d, Fn&& fn) {
    switch (d) {
      case Dtype::kFloat16:
        return fn(TypeTag<F16>{});
      case Dtype::kBFloat16:
        return fn(TypeTag<Bf16>{});
      case Dtype::kFloat32:
        break;
    }
    return fn(TypeTag<F32>{});
  }

  // F<S, B, N>::run(args...) with S, B and N the element types of s, b and n.
  template <template <typename, typename, typename> class F, typename... A>
  static void with3(Dtype s, Dtype b, Dtype n, const A&... args) {
    with(s, [&](auto st) {
      with(b, [&](auto bt) {
        with(n, [&](auto nt) {
          F<typename decltype(st)::type, typename decltype(bt)::type,
            typename decltype(nt)::type>::run(args...);
        });
      });
    });
  }
};

}  // namespace trainrun::kernels
