// CUDA kernels against their CPU references (label gpu; skipped when no device is visible).
#include "kernels/cuda_kernels.h"

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

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

TEST_F(CudaKernels, FlattenAndUnflattenMatchReference) {
  for (Dtype d : kAllDtypes) {
    SCOPED_TRACE(dtypeName(d));
    auto sizes = randomSizes(rng_, 130);
    std::vector<HostArray> host;
    std::vector<FlatSegment> dev, ref;
    int64_t offset = 0;
    for (int64_t n : sizes) {
      host.push_back(randomArray(d, n, rng_));
      dev.push_back({upload(host.back()), n, offset});
      offset += n + 3;  // gaps, as buckets pad for alignment
    }
    for (size_t i = 0; i < host.size(); ++i)
      ref.push_back({host[i].data(), sizes[i], dev[i].offset});
    void* flat = poisoned(d, offset);
    launchFlatten(dev.data(), static_cast<int>(dev.size()), flat, elementSize(d), stream_);
    HostArray ref_flat(d, offset);
    std::memset(ref_flat.data(), 0xFF, ref_flat.bytes.size());  // gaps stay poisoned in both
    flattenRef(ref.data(), static_cast<int>(ref.size()), ref_flat.data(), elementSize(d));
    expectClose(download(flat, d, offset), ref_flat, "flatten");

    // Unflatten into poisoned tensors.
    std::vector<FlatSegment> outs = dev;
    for (auto& s : outs) s.tensor = poisoned(d, s.numel);
    launchUnflatten(outs.data(), static_cast<int>(outs.size()), flat, elementSize(d), stream_);
    for (size_t i = 0; i < outs.size(); ++i)
      expectClose(download(outs[i].tensor, d, outs[i].numel), host[i], "unflatten");
  }
}

TEST_F(CudaKernels, CastsMatchReference) {
  const std::pair<Dtype, Dtype> pairs[] = {{Dtype::kFloat32, Dtype::kFloat16},
                                           {Dtype::kFloat32, Dtype::kBFloat16},
                                           {Dtype::kFloat16, Dtype::kFloat32},
                                           {Dtype::kBFloat16, Dtype::kFloat32}};
  for (auto [src_d, dst_d] : pairs) {
    for (int64_t n : {int64_t{1}, int64_t{1000}, int64_t{3} << 20}) {
      SCOPED_TRACE(std::string(dtypeName(src_d)) + "->" + dtypeName(dst_d) +
                   " n=" + std::to_string(n));
      HostArray src = randomArray(src_d, n, rng_, 1000.0f);
      src.set(0, n > 1 ? 1e6f : src.get(0));  // overflows fp16: must become inf in both
      void* d_src = upload(src);
      void* d_dst = poisoned(dst_d, n);
      const float scale = 0.125f;
      launchCast(d_src, src_d, d_dst, dst_d, n, scale, stream_);
      HostArray expected(dst_d, n);
      castRef(src.data(), src_d, expected.data(), dst_d, n, scale);
      expectClose(download(d_dst, dst_d, n), expected, "cast");
    }
  }
}

}  // namespace
}  // namespace trainrun::kernels
