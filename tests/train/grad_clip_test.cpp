// GradClipper against LibTorch's clip_grad_norm_: the same norm and gradients when it clips
// and when it does not, undefined gradients skipped, and a non-finite norm kept as it is.
#include "train/grad_clip.h"

#include <gtest/gtest.h>

#include <cmath>

namespace trainrun {
namespace {

// Parameters of three shapes with fixed gradients of total norm about 8.
std::vector<torch::Tensor> params() {
  torch::manual_seed(5);
  std::vector<torch::Tensor> out{torch::randn({6, 4}).requires_grad_(true),
                                 torch::randn({4}).requires_grad_(true),
                                 torch::randn({3, 2, 2}).requires_grad_(true)};
  for (auto& p : out) p.mutable_grad() = torch::randn_like(p) * 1.5;
  return out;
}

std::vector<torch::Tensor> gradsOf(const std::vector<torch::Tensor>& ps) {
  std::vector<torch::Tensor> out;
  for (const auto& p : ps) out.push_back(p.grad());
  return out;
}

void expectAsLibTorch(double max_norm) {
  std::vector<torch::Tensor> mine = params(), theirs = params();
  GradClipper clipper(max_norm, torch::kCPU);
  clipper.clip(gradsOf(mine));
  const double want = torch::nn::utils::clip_grad_norm_(theirs, max_norm);
  EXPECT_NEAR(clipper.lastNorm().item<double>(), want, 1e-5 * want);
  for (size_t i = 0; i < mine.size(); ++i)
    EXPECT_TRUE(torch::allclose(mine[i].grad(), theirs[i].grad(), 1e-6, 1e-7)) << "grad " << i;
}

TEST(GradClipper, ClipsAsLibTorchAboveTheLimit) {
  const double norm = torch::nn::utils::clip_grad_norm_(params(), 1e9);
  ASSERT_GT(norm, 2.0);
  expectAsLibTorch(1.0);
  std::vector<torch::Tensor> ps = params();
  GradClipper clipper(1.0, torch::kCPU);
  clipper.clip(gradsOf(ps));
  double total = 0;
  for (const auto& p : ps) total += p.grad().square().sum().item<double>();
  EXPECT_NEAR(std::sqrt(total), 1.0, 1e-5);  // clipped to the limit
}

TEST(GradClipper, LeavesGradientsBelowTheLimitAlone) {
  expectAsLibTorch(100.0);
  std::vector<torch::Tensor> ps = params(), before = params();
  GradClipper clipper(100.0, torch::kCPU);
  clipper.clip(gradsOf(ps));
  for (size_t i = 0; i < ps.size(); ++i) EXPECT_TRUE(ps[i].grad().equal(before[i].grad()));
}

TEST(GradClipper, SkipsUndefinedGradientsAndRecordsZeroForNone) {
  std::vector<torch::Tensor> ps = params();
  ps[1].mutable_grad() = torch::Tensor();
  GradClipper clipper(1.0, torch::kCPU);
  clipper.clip(gradsOf(ps));
  const double want = std::sqrt(params()[0].grad().square().sum().item<double>() +
                                params()[2].grad().square().sum().item<double>());
  EXPECT_NEAR(clipper.lastNorm().item<double>(), want, 1e-5 * want);
  clipper.clip({torch::Tensor()});
  EXPECT_EQ(clipper.lastNorm().item<double>(), 0.0);
}

TEST(GradClipper, KeepsANonFiniteNormForTheScalerToSkip) {
  std::vector<torch::Tensor> ps = params();
  ps[0].grad()[0][0] = INFINITY;
  GradClipper clipper(1.0, torch::kCPU);
  clipper.clip(gradsOf(ps));
  EXPECT_TRUE(std::isinf(clipper.lastNorm().item<double>()));
  EXPECT_FALSE(torch::isfinite(ps[0].grad()).all().item<bool>());  // inf * 0: NaN
}

}  // namespace
}  // namespace trainrun
