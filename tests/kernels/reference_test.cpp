// CPU references of kernels/ checked against plain LibTorch ops (runs everywhere).
#include "kernels/reference.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "kernel_test_util.h"
#include "kernels/element_io.h"

namespace trainrun::kernels {
namespace {

using testing::freshSeed;

torch::ScalarType torchType(Dtype d) {
  return d == Dtype::kFloat32   ? torch::kFloat
         : d == Dtype::kFloat16 ? torch::kHalf
                                : torch::kBFloat16;
}

// dst[i] = Dst::store(Src::load(src[i]) * scale): the element conversions every reference
// loop (and the unscale kernel's device twins) is built on.
template <typename Src, typename Dst>
void convert(const void* src, void* dst, int64_t n, float scale = 1.0f) {
  const auto* s = static_cast<const typename Src::Storage*>(src);
  auto* d = static_cast<typename Dst::Storage*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = Dst::store(Src::load(s[i]) * scale);
}

const Dtype kAllDtypes[] = {Dtype::kFloat32, Dtype::kFloat16, Dtype::kBFloat16};

// Bitwise equal, except that any NaN matches any NaN (payloads differ between libraries).
void expectSameValues(const torch::Tensor& actual, const torch::Tensor& expected) {
  auto a = actual.to(torch::kFloat), e = expected.to(torch::kFloat);
  auto both_nan = a.isnan() & e.isnan();
  auto same = (a == e) | both_nan;
  EXPECT_TRUE(same.all().item<bool>())
      << "first mismatch at " << (~same).nonzero().flatten().slice(0, 0, 1) << " seed "
      << freshSeed();
}

TEST(UnscaleAndCheckRef, MatchesTorchMultiplyPerDtype) {
  torch::manual_seed(freshSeed());
  for (Dtype d : kAllDtypes) {
    SCOPED_TRACE(dtypeName(d));
    std::vector<torch::Tensor> grads{torch::randn({3, 5}) * 1000, torch::randn({1}),
                                     torch::randn({70000}) * 1e-3};
    std::vector<TensorChunk> chunks;
    std::vector<torch::Tensor> expected;
    const float inv = 1.0f / 65536.0f;
    for (auto& g : grads) {
      g = g.to(torchType(d));
      expected.push_back((g.to(torch::kFloat) * inv).to(torchType(d)));
      chunks.push_back({g.data_ptr(), g.numel()});
    }
    EXPECT_FALSE(unscaleAndCheckRef(chunks.data(), static_cast<int>(chunks.size()), d, inv));
    for (size_t i = 0; i < grads.size(); ++i) expectSameValues(grads[i], expected[i]);
  }
}

TEST(UnscaleAndCheckRef, FlagsInfOrNanInAnyChunkAndStillUnscalesTheRest) {
  for (Dtype d : kAllDtypes) {
    for (float bad : {INFINITY, -INFINITY, NAN}) {
      std::vector<torch::Tensor> grads{torch::ones({10}, torchType(d)),
                                       torch::ones({10}, torchType(d)),
                                       torch::ones({10}, torchType(d))};
      grads[1][9] = bad;  // only the middle tensor, last element
      std::vector<TensorChunk> chunks;
      for (auto& g : grads) chunks.push_back({g.data_ptr(), g.numel()});
      EXPECT_TRUE(unscaleAndCheckRef(chunks.data(), 3, d, 0.5f)) << dtypeName(d) << " " << bad;
      EXPECT_EQ(grads[2][0].item<float>(), 0.5f);
    }
  }
}

TEST(UnscaleAndCheckRef, FiniteInputThatOverflowsIsNotFlagged) {
  // GradScaler checks the value before scaling; an inv_scale > 1 is the caller's business.
  auto g = torch::full({2}, 60000.0f, torch::kHalf);
  TensorChunk c{g.data_ptr(), 2};
  EXPECT_FALSE(unscaleAndCheckRef(&c, 1, Dtype::kFloat16, 4.0f));
  EXPECT_TRUE(g.isinf().all().item<bool>());
}

TEST(ElementIo, EveryHalfAndBf16BitPatternWidensLikeTorch) {
  auto bits = torch::arange(0, 65536, torch::kInt).to(torch::kShort);  // all 16-bit patterns
  for (Dtype d : {Dtype::kFloat16, Dtype::kBFloat16}) {
    auto src = bits.view(torchType(d));
    auto out = torch::full({65536}, NAN);
    if (d == Dtype::kFloat16) {
      convert<HostF16, HostF32>(src.data_ptr(), out.data_ptr(), 65536);
    } else {
      convert<HostBf16, HostF32>(src.data_ptr(), out.data_ptr(), 65536);
    }
    expectSameValues(out, src.to(torch::kFloat));
  }
}

TEST(ElementIo, RandomFloatBitPatternsNarrowLikeTorch) {
  torch::manual_seed(freshSeed());
  // Random bit patterns reach every exponent: subnormal, overflow, NaN and tie cases.
  auto src = torch::randint(-(int64_t{1} << 31), int64_t{1} << 31, {1 << 20}, torch::kLong)
                 .to(torch::kInt)
                 .view(torch::kFloat);
  // Plus exact ties between representable halves and bf16 values, and the overflow edge.
  auto ties = torch::tensor({65520.0f, 65519.0f, 2.98023224e-8f, 2.98023225e-8f, 1.0009765625f,
                             1.00048828125f, 1.00390625f, 1.001953125f, -0.0f, 6.0975552e-5f});
  src = torch::cat({src, ties});
  for (Dtype d : {Dtype::kFloat16, Dtype::kBFloat16}) {
    SCOPED_TRACE(dtypeName(d));
    auto out = torch::full({src.numel()}, NAN, torchType(d));  // poisoned
    if (d == Dtype::kFloat16) {
      convert<HostF32, HostF16>(src.data_ptr(), out.data_ptr(), src.numel());
    } else {
      convert<HostF32, HostBf16>(src.data_ptr(), out.data_ptr(), src.numel());
    }
    expectSameValues(out, src.to(torchType(d)));
  }
}

TEST(ElementIo, ScaleIsAppliedInFp32BeforeRounding) {
  torch::manual_seed(freshSeed());
  auto src = torch::randn({4096}) * 1e4;
  const float scale = 1.0f / 8.0f;  // e.g. 1 / world size for a compressed average
  auto out = torch::full({4096}, NAN, torch::kHalf);
  convert<HostF32, HostF16>(src.data_ptr(), out.data_ptr(), 4096, scale);
  expectSameValues(out, (src * scale).to(torch::kHalf));
}

}  // namespace
}  // namespace trainrun::kernels
