// CUDA kernels against their CPU references (label gpu; skipped when no device is visible).
#include "kernels/cuda_kernels.h"

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "kernel_test_util.h"
#include "kernels/reference.h"

namespace trainrun::kernels {
namespace {

using testing::expectClose;
using testing::freshSeed;
using testing::HostArray;
using testing::randomArray;

class CudaKernels : public ::testing::Test {
 protected:
  void SetUp() override {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
      cudaGetLastError();
      GTEST_SKIP() << "no CUDA device visible (cudaGetDeviceCount failed or returned 0)";
    }
    rng_.seed(freshSeed());
    ASSERT_EQ(cudaStreamCreate(&stream_), cudaSuccess);
  }
  void TearDown() override {
    for (void* p : allocations_) cudaFree(p);
    if (stream_) cudaStreamDestroy(stream_);
  }

  // Device copy of `a`, freed at TearDown.
  void* upload(const HostArray& a) {
    void* p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, a.bytes.size() + 1), cudaSuccess);
    allocations_.push_back(p);
    EXPECT_EQ(cudaMemcpy(p, a.bytes.data(), a.bytes.size(), cudaMemcpyHostToDevice), cudaSuccess);
    return p;
  }
  // Device buffer of n elements filled with NaN (0xFF bytes are NaN in fp32, fp16 and bf16),
  // so an element the kernel forgets to write can never pass as a plausible value.
  void* poisoned(Dtype d, int64_t n) {
    void* p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, n * elementSize(d) + 1), cudaSuccess);
    allocations_.push_back(p);
    EXPECT_EQ(cudaMemset(p, 0xFF, n * elementSize(d) + 1), cudaSuccess);
    return p;
  }
  HostArray download(const void* p, Dtype d, int64_t n) {
    EXPECT_EQ(cudaStreamSynchronize(stream_), cudaSuccess);
    HostArray a(d, n);
    EXPECT_EQ(cudaMemcpy(a.data(), p, a.bytes.size(), cudaMemcpyDeviceToHost), cudaSuccess);
    return a;
  }

  std::mt19937 rng_;
  cudaStream_t stream_ = nullptr;
  std::vector<void*> allocations_;
};

const Dtype kAllDtypes[] = {Dtype::kFloat32, Dtype::kFloat16, Dtype::kBFloat16};

// Sizes around the tile edges, an empty tensor, and more tensors than one launch's table holds.
std::vector<int64_t> randomSizes(std::mt19937& rng, int count) {
  std::vector<int64_t> sizes{1, 0, 4095, 4096, 4097, 1 << 20};
  std::uniform_int_distribution<int64_t> size(1, 20000);
  while (static_cast<int>(sizes.size()) < count) sizes.push_back(size(rng));
  return sizes;
}

TEST_F(CudaKernels, UnscaleMatchesReferenceAndFlagsOnlyWhenNonFinite) {
  for (Dtype d : kAllDtypes) {
    for (bool inject : {false, true}) {
      SCOPED_TRACE(std::string(dtypeName(d)) + (inject ? " with inf" : " finite"));
      auto sizes = randomSizes(rng_, 200);
      std::vector<HostArray> host;
      std::vector<TensorChunk> dev, ref;
      for (int64_t n : sizes) host.push_back(randomArray(d, n, rng_));
      if (inject) host[150].set(host[150].size() - 1, INFINITY);  // one tensor, past launch 1
      for (auto& h : host) dev.push_back({upload(h), h.size()});
      for (auto& h : host) ref.push_back({h.data(), h.size()});
      auto* flag = static_cast<float*>(poisoned(Dtype::kFloat32, 1));
      ASSERT_EQ(cudaMemsetAsync(flag, 0, sizeof(float), stream_), cudaSuccess);
      const float inv = 1.0f / 1024.0f;
      launchUnscaleAndCheck(dev.data(), static_cast<int>(dev.size()), d, inv, flag, stream_);
      const bool ref_found = unscaleAndCheckRef(ref.data(), static_cast<int>(ref.size()), d, inv);
      EXPECT_EQ(ref_found, inject);
      EXPECT_EQ(download(flag, Dtype::kFloat32, 1).get(0), inject ? 1.0f : 0.0f);
      for (size_t i = 0; i < host.size(); ++i)
        expectClose(download(dev[i].data, d, dev[i].numel), host[i], "unscale");
    }
  }
}

TEST_F(CudaKernels, UnscaleNeverClearsAnAlreadySetFlag) {
  HostArray h = randomArray(Dtype::kFloat32, 100, rng_);
  TensorChunk c{upload(h), h.size()};
  auto* flag = static_cast<float*>(poisoned(Dtype::kFloat32, 1));
  const float one = 1.0f;
  ASSERT_EQ(cudaMemcpy(flag, &one, 4, cudaMemcpyHostToDevice), cudaSuccess);
  launchUnscaleAndCheck(&c, 1, Dtype::kFloat32, 0.5f, flag, stream_);
  EXPECT_EQ(download(flag, Dtype::kFloat32, 1).get(0), 1.0f);
}

TEST_F(CudaKernels, CrossEntropyMatchesReferenceOnPaddedRowsPerDtype) {
  const int64_t rows = 70, vocab = 50257, stride = 50304;  // GPT-2's vocabulary, padded to 64
  std::uniform_int_distribution<int64_t> target(0, vocab - 1);
  std::vector<int64_t> targets(rows);
  for (auto& t : targets) t = target(rng_);
  targets[3] = -100;   // ignored
  targets[5] = vocab;  // out of range: NaN loss, zero gradient
  void* dev_targets = nullptr;
  ASSERT_EQ(cudaMalloc(&dev_targets, rows * sizeof(int64_t)), cudaSuccess);
  allocations_.push_back(dev_targets);
  ASSERT_EQ(cudaMemcpy(dev_targets, targets.data(), rows * sizeof(int64_t), cudaMemcpyHostToDevice),
            cudaSuccess);
  for (Dtype d : kAllDtypes) {
    SCOPED_TRACE(dtypeName(d));
    HostArray host = randomArray(d, rows * stride, rng_, 0.05f);  // logit-sized values
    CrossEntropyRows ref{host.data(), rows, vocab, stride, d, targets.data(), -100};
    CrossEntropyRows dev = ref;
    dev.logits = upload(host);
    dev.targets = static_cast<const int64_t*>(dev_targets);
    auto* losses = static_cast<float*>(poisoned(Dtype::kFloat32, rows));
    auto* lse = static_cast<float*>(poisoned(Dtype::kFloat32, rows));
    launchCrossEntropyForward(dev, losses, lse, stream_);
    HostArray ref_losses(Dtype::kFloat32, rows), ref_lse(Dtype::kFloat32, rows);
    crossEntropyForwardRef(ref, static_cast<float*>(ref_losses.data()),
                           static_cast<float*>(ref_lse.data()));
    HostArray got_losses = download(losses, Dtype::kFloat32, rows);
    for (int64_t r = 0; r < rows; ++r)  // fp32 sums in another order: a few ulps of the lse
      EXPECT_NEAR(got_losses.get(r), ref_losses.get(r), 1e-4f * (1 + ref_lse.get(r))) << r;
    EXPECT_TRUE(std::isnan(got_losses.get(5)));
    const float scale = 1.0f / 68;
    float* dev_scale = static_cast<float*>(poisoned(Dtype::kFloat32, 1));
    ASSERT_EQ(cudaMemcpy(dev_scale, &scale, 4, cudaMemcpyHostToDevice), cudaSuccess);
    launchCrossEntropyBackward(dev, lse, dev_scale, stream_);
    crossEntropyBackwardRef(ref, static_cast<float*>(ref_lse.data()), scale);
    // The kernel's lse differs from the reference's in the last bits (float vs double sums),
    // so each gradient may differ by that relative amount beyond the dtype's rounding.
    HostArray got = download(dev.logits, d, rows * stride);
    int bad = 0;
    for (int64_t i = 0; i < got.size() && bad < 5; ++i) {
      const float a = got.get(i), e = host.get(i);
      const float tol = std::max(testing::tolerance(d), 1e-4f) * std::fabs(e) + 1e-9f;
      if (std::isnan(e) ? !std::isnan(a) : std::fabs(a - e) > tol) {
        ADD_FAILURE() << "gradient " << i << " (row " << i / stride << "): " << a << " vs " << e;
        ++bad;
      }
    }
  }
}

// A GPT-2 width and more rows than one part of the weight-gradient reduction (parts 0..2).
TEST_F(CudaKernels, AddNormMatchesReferenceForwardAndBackwardPerDtypeMix) {
  const int64_t rows = 600, C = 768;
  const Dtype mixes[][3] = {{Dtype::kFloat32, Dtype::kFloat32, Dtype::kFloat32},
                            {Dtype::kFloat32, Dtype::kBFloat16, Dtype::kBFloat16},
                            {Dtype::kFloat32, Dtype::kFloat16, Dtype::kFloat16},
                            {Dtype::kBFloat16, Dtype::kBFloat16, Dtype::kBFloat16}};
  for (const auto& mix : mixes) {
    const AddNormRows r{rows, C, mix[0], mix[1], mix[2], 1e-5f};
    SCOPED_TRACE(std::string(dtypeName(r.stream)) + "+" + dtypeName(r.branch) + "->" +
                 dtypeName(r.normed));
    HostArray res = randomArray(r.stream, rows * C, rng_, 0.01f);
    HostArray br = randomArray(r.branch, rows * C, rng_, 0.01f);
    HostArray w = randomArray(Dtype::kFloat32, C, rng_, 0.01f);
    HostArray b = randomArray(Dtype::kFloat32, C, rng_, 0.01f);
    HostArray ref_sum(r.stream, rows * C), ref_normed(r.normed, rows * C);
    HostArray ref_mean(Dtype::kFloat32, rows), ref_rstd(Dtype::kFloat32, rows);
    auto f32 = [](HostArray& a) { return static_cast<float*>(a.data()); };
    addNormForwardRef(r, {res.data(), br.data(), f32(w), f32(b), ref_sum.data(), ref_normed.data(),
                          f32(ref_mean), f32(ref_rstd)});
    void* sum = poisoned(r.stream, rows * C);
    void* normed = poisoned(r.normed, rows * C);
    auto* mean = static_cast<float*>(poisoned(Dtype::kFloat32, rows));
    auto* rstd = static_cast<float*>(poisoned(Dtype::kFloat32, rows));
    auto* dw_ = static_cast<const float*>(upload(w));
    launchAddNormForward(r,
                         {upload(res), upload(br), dw_, static_cast<const float*>(upload(b)), sum,
                          normed, mean, rstd},
                         stream_);
    expectClose(download(sum, r.stream, rows * C), ref_sum, "sum");
    HostArray got_normed = download(normed, r.normed, rows * C);
    for (int64_t i = 0; i < rows * C; ++i)  // fp32 statistics summed in another order
      ASSERT_NEAR(got_normed.get(i), ref_normed.get(i),
                  2 * testing::tolerance(r.normed) * std::fabs(ref_normed.get(i)) + 1e-4f)
          << i;

    HostArray dn = randomArray(r.normed, rows * C, rng_, 0.01f);
    HostArray ds = randomArray(r.stream, rows * C, rng_, 0.01f);
    HostArray ref_gs(r.stream, rows * C), ref_gb(r.branch, rows * C);
    HostArray ref_gw(Dtype::kFloat32, C), ref_gbias(Dtype::kFloat32, C);
    addNormBackwardRef(r,
                       {dn.data(), ds.data(), ref_sum.data(), f32(w), f32(ref_mean), f32(ref_rstd),
                        ref_gs.data(), ref_gb.data(), f32(ref_gw), f32(ref_gbias)});
    void* gs = poisoned(r.stream, rows * C);
    void* gb = poisoned(r.branch, rows * C);
    auto* gw = static_cast<float*>(poisoned(Dtype::kFloat32, C));
    auto* gbias = static_cast<float*>(poisoned(Dtype::kFloat32, C));
    auto* workspace = static_cast<float*>(poisoned(Dtype::kFloat32, addNormWorkspaceFloats(r)));
    launchAddNormBackward(r, {upload(dn), upload(ds), sum, dw_, mean, rstd, gs, gb, gw, gbias},
                          workspace, stream_);
    HostArray got_gs = download(gs, r.stream, rows * C), got_gb = download(gb, r.branch, rows * C);
    for (int64_t i = 0; i < rows * C; ++i) {
      ASSERT_NEAR(got_gs.get(i), ref_gs.get(i),
                  4 * testing::tolerance(r.stream) * std::fabs(ref_gs.get(i)) + 1e-4f)
          << i;
      ASSERT_NEAR(got_gb.get(i), ref_gb.get(i),
                  4 * testing::tolerance(r.branch) * std::fabs(ref_gb.get(i)) + 1e-4f)
          << i;
    }
    HostArray got_gw = download(gw, Dtype::kFloat32, C);
    HostArray got_gbias = download(gbias, Dtype::kFloat32, C);
    for (int64_t j = 0; j < C; ++j) {
      EXPECT_NEAR(got_gw.get(j), ref_gw.get(j), 1e-3f * (1 + std::fabs(ref_gw.get(j)))) << j;
      EXPECT_NEAR(got_gbias.get(j), ref_gbias.get(j), 1e-3f * (1 + std::fabs(ref_gbias.get(j))))
          << j;
    }
  }
}

}  // namespace
}  // namespace trainrun::kernels
