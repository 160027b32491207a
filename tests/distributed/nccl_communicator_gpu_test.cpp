// NCCL communicator on a real GPU: world-size-1 collectives, watchdog timeout, join timeout.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "core/error.h"
#include "distributed/nccl/nccl_communicator.h"
#include "store/store.h"

namespace trainrun {
namespace {

#define SKIP_WITHOUT_GPU()                                                  \
  do {                                                                      \
    int n = 0;                                                              \
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {                  \
      cudaGetLastError();                                                   \
      GTEST_SKIP() << "no CUDA device visible (cudaGetDeviceCount failed)"; \
    }                                                                       \
  } while (0)

torch::Tensor deviceTensor(const std::vector<float>& host) {
  return torch::tensor(host).to(torch::Device(torch::kCUDA, 0));
}

std::vector<float> toHost(const torch::Tensor& t) {
  torch::Tensor c = t.cpu();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

NcclOptions shortTimeout() {
  NcclOptions o;
  o.timeout = std::chrono::seconds(2);
  o.poll_interval = std::chrono::milliseconds(20);
  return o;
}

TEST(NcclCommunicatorGpu, WorldOfOneAllreduceBroadcastAllgatherBarrier) {
  SKIP_WITHOUT_GPU();
  auto store = Store::host(0, std::chrono::minutes(2));
  auto comm = makeNcclCommunicator(*store, "w1/", 0, 1, shortTimeout());
  EXPECT_STREQ(comm->backendName(), "nccl");
  EXPECT_EQ(comm->size(), 1);

  // Two tensors: one grouped NCCL call.
  std::vector<torch::Tensor> ts{deviceTensor({1.5f, -2.0f, 3.0f}), deviceTensor({7.0f})};
  comm->allreduce(ts, ReduceOp::kSum)->wait();
  EXPECT_EQ(toHost(ts[0]), (std::vector<float>{1.5f, -2.0f, 3.0f}));
  EXPECT_EQ(toHost(ts[1]), (std::vector<float>{7.0f}));

  comm->broadcast(ts, 0)->wait();
  EXPECT_EQ(toHost(ts[1]), (std::vector<float>{7.0f}));

  auto input = deviceTensor({4.0f, 5.0f});
  std::vector<torch::Tensor> out{deviceTensor({NAN, NAN})};
  auto work = comm->allgather(out, input);
  static_cast<NcclWork&>(*work).synchronize(std::chrono::seconds(10));
  EXPECT_TRUE(work->isCompleted());
  EXPECT_EQ(toHost(out[0]), (std::vector<float>{4.0f, 5.0f}));

  comm->barrier(std::chrono::seconds(10));
}

TEST(NcclCommunicatorGpu, RejectsHostTensors) {
  SKIP_WITHOUT_GPU();
  auto store = Store::host(0, std::chrono::minutes(2));
  auto comm = makeNcclCommunicator(*store, "host/", 0, 1, shortTimeout());
  std::vector<torch::Tensor> ts{torch::ones({4})};
  EXPECT_THROW(comm->allreduce(ts, ReduceOp::kSum), CommError);
}

// The caller's current stream (a side stream set with a LibTorch stream guard, not the
// default stream) is held by a host callback, so the collective, ordered after it, cannot
// finish: from the communicator's side this is exactly a peer that never arrives. The
// watchdog must fail the work after the 2 s timeout with a one-line message naming the
// operation, its bytes and the step, and abort the communicator.
TEST(NcclCommunicatorGpu, WatchdogTimesOutStuckCollective) {
  SKIP_WITHOUT_GPU();
  auto store = Store::host(0, std::chrono::minutes(2));
  auto comm = makeNcclCommunicator(*store, "wd/", 0, 1, shortTimeout());
  cudaStream_t compute;
  ASSERT_EQ(cudaStreamCreateWithFlags(&compute, cudaStreamNonBlocking), cudaSuccess);
  static std::atomic<bool> release{false};
  release = false;
  ASSERT_EQ(cudaLaunchHostFunc(
                compute,
                [](void*) {
                  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
                  while (!release && std::chrono::steady_clock::now() < give_up)
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                },
                nullptr),
            cudaSuccess);
  comm->setStep(7);
  std::vector<torch::Tensor> ts{deviceTensor(std::vector<float>(1024, 1.0f))};  // 4096 bytes
  std::unique_ptr<Work> work;
  {
    c10::cuda::CUDAStreamGuard on_side_stream(c10::cuda::getStreamFromExternal(compute, 0));
    work = comm->allreduce(ts, ReduceOp::kSum);
  }
  const auto start = std::chrono::steady_clock::now();
  std::string msg;
  try {
    static_cast<NcclWork&>(*work).synchronize(std::chrono::seconds(30));
  } catch (const TimeoutError& e) {
    msg = e.what();
  }
  const auto waited = std::chrono::steady_clock::now() - start;
  release = true;  // let the stream (and ncclCommAbort, which may drain it) finish
  EXPECT_FALSE(msg.empty()) << "expected TimeoutError from the watchdog";
  EXPECT_LT(waited, std::chrono::seconds(20));
  EXPECT_NE(msg.find("allreduce"), std::string::npos) << msg;
  EXPECT_NE(msg.find("4096 bytes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("step 7"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_THROW(work->wait(), TimeoutError);
  EXPECT_THROW(comm->throwIfFailed(), TimeoutError);  // what the trainer asks before stepping
  // Aborted: later collectives fail at once instead of hanging.
  EXPECT_THROW(comm->allreduce(ts, ReduceOp::kSum), TimeoutError);
  cudaStreamSynchronize(compute);
  comm.reset();
  cudaStreamDestroy(compute);
}

TEST(NcclCommunicatorGpu, JoinTimesOutWhenPeerNeverComes) {
  SKIP_WITHOUT_GPU();
  auto store = Store::host(0, std::chrono::minutes(2));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(makeNcclCommunicator(*store, "lonely/", 0, 2, shortTimeout()), TimeoutError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

TEST(NcclCommunicatorGpu, NonZeroRankTimesOutWithoutUniqueId) {
  SKIP_WITHOUT_GPU();
  auto store = Store::host(0, std::chrono::minutes(2));
  EXPECT_THROW(makeNcclCommunicator(*store, "noid/", 1, 2, shortTimeout()), TimeoutError);
}

}  // namespace
}  // namespace trainrun
