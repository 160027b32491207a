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

}  // namespace
}  // namespace trainrun::kernels
