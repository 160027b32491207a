// LossScaler's CUDA path against its CPU path (label gpu; skipped when no device is visible).
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include "amp/loss_scaler.h"

namespace trainrun {
namespace {

// CUDA tensor holding a copy of `host`, over cudaMalloc'd memory: works with a CPU-only
// LibTorch too, since the scaler only reads metadata and data_ptr().
torch::Tensor toDevice(const torch::Tensor& host) {
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, host.nbytes()), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(p, host.data_ptr(), host.nbytes(), cudaMemcpyHostToDevice), cudaSuccess);
  return at::for_blob(p, host.sizes())
      .deleter([](void* q) { cudaFree(q); })
      .options(torch::TensorOptions().dtype(host.scalar_type()))
      .target_device(torch::Device(torch::kCUDA, 0))
      .make_tensor();
}

torch::Tensor toHost(const torch::Tensor& dev) {
  auto out = torch::empty(dev.sizes(), torch::TensorOptions().dtype(dev.scalar_type()));
  EXPECT_EQ(cudaMemcpy(out.data_ptr(), dev.data_ptr(), dev.nbytes(), cudaMemcpyDeviceToHost),
            cudaSuccess);
  return out;
}

TEST(LossScalerCuda, MatchesCpuPathPerDtypeAndFindsInf) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    cudaGetLastError();
    GTEST_SKIP() << "no CUDA device visible (cudaGetDeviceCount failed or returned 0)";
  }
  for (bool inject : {false, true}) {
    std::vector<torch::Tensor> cpu{torch::randn({1000}) * 100,
                                   (torch::randn({70000}) * 10).to(torch::kHalf),
                                   torch::randn({33, 7}).to(torch::kBFloat16)};
    if (inject) cpu[1][69999] = NAN;
    std::vector<torch::Tensor> gpu;
    for (auto& t : cpu) gpu.push_back(toDevice(t));
    LossScalerOptions so;
    so.sync_timeout = std::chrono::seconds(30);
    LossScaler on_cpu(so), on_gpu(so);
    EXPECT_EQ(on_cpu.unscaleAndCheck(cpu), inject);
    EXPECT_EQ(on_gpu.unscaleAndCheck(gpu), inject);
    for (size_t i = 0; i < cpu.size(); ++i) {
      auto g = toHost(gpu[i]).to(torch::kFloat), c = cpu[i].to(torch::kFloat);
      EXPECT_TRUE(((g == c) | (g.isnan() & c.isnan())).all().item<bool>()) << "tensor " << i;
    }
  }
}

}  // namespace
}  // namespace trainrun
