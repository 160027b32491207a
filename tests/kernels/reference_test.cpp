// CPU references of kernels/ checked against plain LibTorch ops (runs everywhere).
#include "kernels/reference.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

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

// Rows of `vocab` logits padded to `stride`, targets with an ignored row and (optionally) one
// out of range; the padding columns hold a sentinel the kernels must leave alone.
struct CeCase {
  torch::Tensor padded;   // (rows, stride) in the dtype
  torch::Tensor targets;  // (rows,) int64
  CrossEntropyRows rows() {
    CrossEntropyRows r;
    r.logits = padded.data_ptr();
    r.rows = padded.size(0);
    r.stride = padded.size(1);
    r.targets = targets.data_ptr<int64_t>();
    return r;
  }
};

CeCase ceCase(Dtype d, int64_t rows, int64_t vocab, int64_t stride) {
  CeCase c;
  c.padded = torch::full({rows, stride}, 7.0f).to(torchType(d));
  c.padded.narrow(1, 0, vocab).copy_((torch::randn({rows, vocab}) * 3).to(torchType(d)));
  c.targets = torch::randint(0, vocab, {rows}, torch::kLong);
  c.targets[1] = -100;  // ignored
  return c;
}

TEST(CrossEntropyRef, LossAndGradientMatchTorchOnFp32LogitsPerDtype) {
  torch::manual_seed(freshSeed());
  const int64_t rows = 6, vocab = 50, stride = 64;  // a vocabulary padded to 64
  for (Dtype d : kAllDtypes) {
    SCOPED_TRACE(dtypeName(d));
    CeCase c = ceCase(d, rows, vocab, stride);
    // Torch on the same values, widened to fp32: the loss, then the gradient of 2.5 x the mean.
    torch::Tensor x = c.padded.narrow(1, 0, vocab).to(torch::kFloat).requires_grad_(true);
    torch::Tensor want = torch::nn::functional::cross_entropy(x, c.targets);
    (want * 2.5).backward();
    CrossEntropyRows r = c.rows();
    r.vocab = vocab;
    r.dtype = d;
    std::vector<float> losses(rows), lse(rows);
    crossEntropyForwardRef(r, losses.data(), lse.data());
    EXPECT_EQ(losses[1], 0.0f);  // the ignored row
    float sum = 0;
    for (float l : losses) sum += l;
    EXPECT_NEAR(sum / (rows - 1), want.item<float>(), 1e-5 * (1 + std::fabs(want.item<float>())));
    crossEntropyBackwardRef(r, lse.data(), 2.5f / (rows - 1));  // d(2.5 x mean)/d(loss_r)
    torch::Tensor got = c.padded.narrow(1, 0, vocab).to(torch::kFloat);
    const float tol = d == Dtype::kFloat32 ? 1e-6f : d == Dtype::kFloat16 ? 2e-3f : 1.6e-2f;
    EXPECT_TRUE(torch::allclose(got, x.grad(), tol, 1e-6)) << (got - x.grad()).abs().max();
    EXPECT_TRUE(c.padded[1].narrow(0, 0, vocab).eq(0).all().item<bool>());  // ignored: zeros
    // The padding columns are neither read nor written.
    EXPECT_TRUE(
        c.padded.narrow(1, vocab, stride - vocab).to(torch::kFloat).eq(7).all().item<bool>());
  }
}

TEST(CrossEntropyRef, TargetOutOfRangeGivesNanLossAndZeroGradient) {
  CeCase c = ceCase(Dtype::kFloat32, 3, 10, 10);
  c.targets[2] = 10;  // == vocab
  CrossEntropyRows r = c.rows();
  r.vocab = 10;
  std::vector<float> losses(3), lse(3);
  crossEntropyForwardRef(r, losses.data(), lse.data());
  EXPECT_TRUE(std::isnan(losses[2]));
  EXPECT_FALSE(std::isnan(losses[0]));
  crossEntropyBackwardRef(r, lse.data(), 1.0f);
  EXPECT_TRUE(c.padded[2].eq(0).all().item<bool>());
}

TEST(CrossEntropyRef, LargeLogitsDoNotOverflow) {
  // exp(1000) overflows fp32: the max shift keeps the loss finite and exact.
  auto x = torch::tensor({{1000.0f, 999.0f, 0.0f}});
  auto t = torch::tensor({1}, torch::kLong);
  CrossEntropyRows r;
  r.logits = x.data_ptr();
  r.rows = 1;
  r.vocab = r.stride = 3;
  r.targets = t.data_ptr<int64_t>();
  float loss = 0, lse = 0;
  crossEntropyForwardRef(r, &loss, &lse);
  // Finite, and within fp32's resolution at 1000 (an ulp is 6.1e-5) of the exact value.
  EXPECT_NEAR(loss, std::log(1 + std::exp(-1.0) + std::exp(-1000.0)) + 1.0, 1e-4);
}

// The fused add + LayerNorm's reference against torch's add and layer_norm on the same stored
// values, for a stream, branch and normed dtype each; gradients of a loss reading both outputs.
TEST(AddNormRef, ForwardAndBackwardMatchTorchPerDtypeMix) {
  torch::manual_seed(freshSeed());
  const int64_t rows = 5, C = 48;
  const Dtype mixes[][3] = {{Dtype::kFloat32, Dtype::kFloat32, Dtype::kFloat32},
                            {Dtype::kFloat32, Dtype::kBFloat16, Dtype::kBFloat16},
                            {Dtype::kFloat32, Dtype::kFloat16, Dtype::kFloat16},
                            {Dtype::kBFloat16, Dtype::kBFloat16, Dtype::kFloat32}};
  for (const auto& mix : mixes) {
    const Dtype S = mix[0], B = mix[1], N = mix[2];
    SCOPED_TRACE(std::string(dtypeName(S)) + "+" + dtypeName(B) + "->" + dtypeName(N));
    torch::Tensor res = (torch::randn({rows, C}) * 2 + 1).to(torchType(S));
    torch::Tensor br = torch::randn({rows, C}).to(torchType(B));
    torch::Tensor w = torch::randn({C}), b = torch::randn({C});
    torch::Tensor dn = torch::randn({rows, C}).to(torchType(N));
    torch::Tensor ds = torch::randn({rows, C}).to(torchType(S));
    // Torch: the sum stored in S, then layer_norm in fp32 on it.
    torch::Tensor sum_t = (res.to(torch::kFloat) + br.to(torch::kFloat)).to(torchType(S));
    torch::Tensor s = sum_t.to(torch::kFloat).requires_grad_(true);
    torch::Tensor wt = w.clone().requires_grad_(true), bt = b.clone().requires_grad_(true);
    torch::Tensor n = torch::layer_norm(s, {C}, wt, bt, 1e-5);
    (n * dn.to(torch::kFloat)).sum().add((s * ds.to(torch::kFloat)).sum()).backward();

    AddNormRows r{rows, C, S, B, N, 1e-5f};
    torch::Tensor sum = torch::empty({rows, C}, torchType(S));
    torch::Tensor normed = torch::empty({rows, C}, torchType(N));
    torch::Tensor mean = torch::empty({rows}), rstd = torch::empty({rows});
    AddNormForward f{res.data_ptr(),         br.data_ptr(),         w.data_ptr<float>(),
                     b.data_ptr<float>(),    sum.data_ptr(),        normed.data_ptr(),
                     mean.data_ptr<float>(), rstd.data_ptr<float>()};
    addNormForwardRef(r, f);
    expectSameValues(sum, sum_t);
    const double tol = N == Dtype::kFloat32 ? 1e-5 : N == Dtype::kFloat16 ? 2e-3 : 1.6e-2;
    EXPECT_TRUE(torch::allclose(normed.to(torch::kFloat),
                                n.detach().to(torchType(N)).to(torch::kFloat), tol, 1e-5))
        << (normed.to(torch::kFloat) - n.detach()).abs().max();

    torch::Tensor g_stream = torch::empty({rows, C}, torchType(S));
    torch::Tensor g_branch = torch::empty({rows, C}, torchType(B));
    torch::Tensor gw = torch::empty({C}), gb = torch::empty({C});
    AddNormBackward k{dn.data_ptr(),       ds.data_ptr(),          sum.data_ptr(),
                      w.data_ptr<float>(), mean.data_ptr<float>(), rstd.data_ptr<float>(),
                      g_stream.data_ptr(), g_branch.data_ptr(),    gw.data_ptr<float>(),
                      gb.data_ptr<float>()};
    addNormBackwardRef(r, k);
    const double gtol = S == Dtype::kFloat32 ? 1e-4 : 1.6e-2;
    EXPECT_TRUE(torch::allclose(g_stream.to(torch::kFloat), s.grad(), gtol, 1e-4))
        << (g_stream.to(torch::kFloat) - s.grad()).abs().max();
    EXPECT_TRUE(torch::allclose(g_branch.to(torch::kFloat),
                                g_stream.to(torch::kFloat).to(torchType(B)).to(torch::kFloat)));
    EXPECT_TRUE(torch::allclose(gw, wt.grad(), 1e-4, 1e-4)) << (gw - wt.grad()).abs().max();
    EXPECT_TRUE(torch::allclose(gb, bt.grad(), 1e-5, 1e-5)) << (gb - bt.grad()).abs().max();
  }
}

TEST(AddNormRef, WithoutABranchNormalizesTheResidualAndWithoutGradSumTakesOnlyTheNorms) {
  torch::manual_seed(freshSeed());
  const int64_t rows = 3, C = 20;
  torch::Tensor x = torch::randn({rows, C}) * 5;
  torch::Tensor w = torch::randn({C}), b = torch::randn({C}), dn = torch::randn({rows, C});
  torch::Tensor xt = x.clone().requires_grad_(true);
  torch::Tensor n = torch::layer_norm(xt, {C}, w, b, 1e-5);
  (n * dn).sum().backward();
  AddNormRows r{rows, C, Dtype::kFloat32, Dtype::kFloat32, Dtype::kFloat32, 1e-5f};
  torch::Tensor normed = torch::empty({rows, C}), mean = torch::empty({rows}),
                rstd = torch::empty({rows});
  AddNormForward f{x.data_ptr(), nullptr,           w.data_ptr<float>(),    b.data_ptr<float>(),
                   nullptr,      normed.data_ptr(), mean.data_ptr<float>(), rstd.data_ptr<float>()};
  addNormForwardRef(r, f);
  EXPECT_TRUE(torch::allclose(normed, n.detach(), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(mean, x.mean(1), 1e-5, 1e-5));
  torch::Tensor gx = torch::empty({rows, C}), gw = torch::empty({C}), gb = torch::empty({C});
  AddNormBackward k{dn.data_ptr(),          nullptr,
                    x.data_ptr(),           w.data_ptr<float>(),
                    mean.data_ptr<float>(), rstd.data_ptr<float>(),
                    gx.data_ptr(),          nullptr,
                    gw.data_ptr<float>(),   gb.data_ptr<float>()};
  addNormBackwardRef(r, k);
  EXPECT_TRUE(torch::allclose(gx, xt.grad(), 1e-4, 1e-5)) << (gx - xt.grad()).abs().max();
  EXPECT_TRUE(torch::allclose(gb, dn.sum(0), 1e-5, 1e-5));
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
