// NcclCommunicator over the NCCL C API: stream ordering with events, grouped calls, rendezvous.
#include "distributed/nccl/nccl_communicator.h"

#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <cstring>
#include <functional>
#include <thread>

#include "core/cuda.h"
#include "core/error.h"
#include "distributed/init.h"
#include "distributed/nccl/nccl_core.h"

namespace trainrun {
namespace {

ncclRedOp_t toNccl(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return ncclSum;
    case ReduceOp::kMax:
      return ncclMax;
    case ReduceOp::kMin:
      return ncclMin;
  }
  return ncclSum;
}

ncclDataType_t toNccl(torch::ScalarType t, const std::string& what) {
  switch (t) {
    case torch::kFloat:
      return ncclFloat32;
    case torch::kHalf:
      return ncclFloat16;
    case torch::kBFloat16:
      return ncclBfloat16;
    case torch::kDouble:
      return ncclFloat64;
    case torch::kInt:
      return ncclInt32;
    case torch::kLong:
      return ncclInt64;
    case torch::kByte:
      return ncclUint8;
    case torch::kChar:
      return ncclInt8;
    default:
      throw CommError("nccl " + what + ": unsupported dtype " + c10::toString(t));
  }
}

class NcclWorkImpl : public NcclWork {
 public:
  NcclWorkImpl(std::shared_ptr<NcclCore> core, std::shared_ptr<NcclWorkState> state)
      : NcclWork(core->options().timeout), core_(std::move(core)), state_(std::move(state)) {}
  using Work::wait;

  void wait(std::chrono::milliseconds timeout) override {
    if (auto e = state_->error()) std::rethrow_exception(e);
    c10::cuda::CUDAGuard guard(core_->device());
    // The caller's current stream waits on the device; the host goes on queueing work.
    checkCuda(cudaStreamWaitEvent(c10::cuda::getCurrentCUDAStream(core_->device()).stream(),
                                  state_->done, 0),
              "cudaStreamWaitEvent");
    if (core_->options().blocking_wait) synchronize(timeout);
  }

  void synchronize(std::chrono::milliseconds timeout) override {
    c10::cuda::CUDAGuard guard(core_->device());
    // A failure the watchdog records meanwhile ends the wait at once.
    const cudaError_t q = waitForEvent(state_->done, Clock::now() + timeout, [&] {
      if (auto e = state_->error()) std::rethrow_exception(e);
    });
    if (q == cudaErrorNotReady) {
      core_->abort(std::make_exception_ptr(
          TimeoutError("nccl " + state_->describe() + " did not complete within " +
                       std::to_string(timeout.count()) + " ms (host wait); communicator aborted")));
    } else if (q != cudaSuccess) {
      core_->abort(std::make_exception_ptr(CommError(
          "nccl " + state_->describe() + " failed on the GPU: " + cudaGetErrorString(q))));
    }
    // Completed, but the watchdog may have failed it just before (abort makes events fire).
    if (auto e = state_->error()) std::rethrow_exception(e);
  }

  bool isCompleted() override {
    if (state_->error()) return true;
    c10::cuda::CUDAGuard guard(core_->device());
    return cudaEventQuery(state_->done) == cudaSuccess;
  }

 private:
  std::shared_ptr<NcclCore> core_;
  std::shared_ptr<NcclWorkState> state_;
};

class NcclCommunicatorImpl : public NcclCommunicator {
 public:
  explicit NcclCommunicatorImpl(std::shared_ptr<NcclCore> core)
      : NcclCommunicator(core->options().timeout),
        core_(std::move(core)),
        // A pool stream of LibTorch's (non-blocking, high priority): the caching allocator
        // knows it, so recordStream() works, and gradients' reductions jump the compute queue.
        comm_stream_(c10::cuda::getStreamFromPool(/*isHighPriority=*/true,
                                                  static_cast<c10::DeviceIndex>(core_->device()))) {
    c10::cuda::CUDAGuard guard(core_->device());
    checkCuda(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming), "cudaEventCreate");
  }

  ~NcclCommunicatorImpl() override {
    core_.reset();  // watchdog stopped, communicator destroyed before its event goes
    cudaEventDestroy(ready_);
  }

  int rank() const override { return core_->rank(); }
  int size() const override { return core_->size(); }
  const char* backendName() const override { return "nccl"; }
  torch::Device device() const override {
    return {torch::kCUDA, static_cast<c10::DeviceIndex>(core_->device())};
  }
  using Communicator::barrier;
  void throwIfFailed() override { core_->throwIfFailed(); }
  void abort() override {
    core_->abort(std::make_exception_ptr(
        CommError("nccl communicator aborted: the group is being re-formed")));
  }

  std::unique_ptr<Work> allreduce(std::vector<torch::Tensor>& tensors, ReduceOp op) override {
    const int64_t bytes = checkTensors(tensors, "allreduce");
    const ncclRedOp_t nccl_op = toNccl(op);
    return launch("allreduce", bytes, tensors, [&](ncclComm_t comm) {
      for (auto& t : tensors) {
        ncclResult_t r = ncclAllReduce(t.data_ptr(), t.data_ptr(), t.numel(),
                                       toNccl(t.scalar_type(), "allreduce"), nccl_op, comm,
                                       comm_stream_.stream());
        if (r != ncclSuccess && r != ncclInProgress) return r;
      }
      return ncclSuccess;
    });
  }

  std::unique_ptr<Work> broadcast(std::vector<torch::Tensor>& tensors, int root) override {
    const int64_t bytes = checkTensors(tensors, "broadcast");
    checkRoot(root, "broadcast");
    return launch("broadcast", bytes, tensors, [&](ncclComm_t comm) {
      for (auto& t : tensors) {
        ncclResult_t r =
            ncclBroadcast(t.data_ptr(), t.data_ptr(), t.numel(),
                          toNccl(t.scalar_type(), "broadcast"), root, comm, comm_stream_.stream());
        if (r != ncclSuccess && r != ncclInProgress) return r;
      }
      return ncclSuccess;
    });
  }

  std::unique_ptr<Work> allgather(std::vector<torch::Tensor>& output,
                                  torch::Tensor& input) override {
    std::vector<torch::Tensor> in{input};
    const int64_t bytes = checkTensors(in, "allgather");
    checkTensors(output, "allgather");
    if (static_cast<int>(output.size()) != size())
      throw CommError("nccl allgather: needs " + std::to_string(size()) + " output tensors, got " +
                      std::to_string(output.size()));
    for (const auto& o : output) {
      if (o.numel() != input.numel() || o.scalar_type() != input.scalar_type())
        throw CommError("nccl allgather: output tensors must match the input's size and dtype");
    }
    // One broadcast per source rank, grouped: gathers straight into the caller's separate
    // output tensors without a flat staging buffer.
    std::vector<torch::Tensor> touched = output;
    touched.push_back(input);
    return launch("allgather", bytes * size(), touched, [&](ncclComm_t comm) {
      const ncclDataType_t dtype = toNccl(input.scalar_type(), "allgather");
      for (int src = 0; src < size(); ++src) {
        ncclResult_t r = ncclBroadcast(input.data_ptr(), output[src].data_ptr(), input.numel(),
                                       dtype, src, comm, comm_stream_.stream());
        if (r != ncclSuccess && r != ncclInProgress) return r;
      }
      return ncclSuccess;
    });
  }

  void barrier(std::chrono::milliseconds timeout) override {
    if (!barrier_buf_.defined())
      barrier_buf_ = torch::zeros({1}, torch::TensorOptions().device(device()));
    std::vector<torch::Tensor> buf{barrier_buf_};
    auto work = launch("barrier", sizeof(float), buf, [&](ncclComm_t comm) {
      return ncclAllReduce(barrier_buf_.data_ptr(), barrier_buf_.data_ptr(), 1, ncclFloat32,
                           ncclSum, comm, comm_stream_.stream());
    });
    static_cast<NcclWork&>(*work).synchronize(timeout);
  }

 private:
  // Validates tensors (contiguous CUDA tensors on this rank's device) and sums their bytes.
  int64_t checkTensors(const std::vector<torch::Tensor>& tensors, const char* what) const {
    int64_t bytes = 0;
    for (size_t i = 0; i < tensors.size(); ++i) {
      const auto& t = tensors[i];
      if (!t.defined() || !t.is_cuda() || t.get_device() != core_->device())
        throw CommError(std::string("nccl ") + what + ": tensor " + std::to_string(i) +
                        " must be a CUDA tensor on cuda:" + std::to_string(core_->device()) +
                        (t.defined() ? ", got one on " + t.device().str() : ", got undefined"));
      if (!t.is_contiguous())
        throw CommError(std::string("nccl ") + what + ": tensor " + std::to_string(i) +
                        " is not contiguous");
      bytes += static_cast<int64_t>(t.nbytes());
    }
    return bytes;
  }

  void checkRoot(int root, const char* what) const {
    if (root < 0 || root >= size())
      throw CommError(std::string("nccl ") + what + ": root " + std::to_string(root) +
                      " is not a rank of " + std::to_string(size()));
  }

  // Orders the comm stream after the caller's current stream, issues `calls` as one NCCL
  // group, records `tensors` on the comm stream, and records the completion event the Work
  // and the watchdog watch.
  std::unique_ptr<Work> launch(const char* op, int64_t bytes,
                               const std::vector<torch::Tensor>& tensors,
                               const std::function<ncclResult_t(ncclComm_t)>& calls) {
    c10::cuda::CUDAGuard guard(core_->device());
    core_->throwIfFailed();
    const cudaStream_t compute = c10::cuda::getCurrentCUDAStream(core_->device()).stream();
    checkCuda(cudaEventRecord(ready_, compute), "cudaEventRecord");
    checkCuda(cudaStreamWaitEvent(comm_stream_.stream(), ready_, 0), "cudaStreamWaitEvent");
    cudaEvent_t done;
    checkCuda(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "cudaEventCreate");
    auto state = std::make_shared<NcclWorkState>(recorder()->issue(op, bytes), recorder(), done,
                                                 Clock::now() + core_->options().timeout);
    core_->enqueue(
        [&](ncclComm_t comm) {
          ncclResult_t r = ncclGroupStart();
          if (r != ncclSuccess) return r;
          r = calls(comm);
          const ncclResult_t end = ncclGroupEnd();
          return r != ncclSuccess ? r : end;
        },
        state->describe());
    checkCuda(cudaEventRecord(done, comm_stream_.stream()), "cudaEventRecord");
    for (const auto& t : tensors)
      c10::cuda::CUDACachingAllocator::recordStream(t.storage().data_ptr(), comm_stream_);
    core_->track(state);
    return std::make_unique<NcclWorkImpl>(core_, state);
  }

  std::shared_ptr<NcclCore> core_;
  c10::cuda::CUDAStream comm_stream_;
  cudaEvent_t ready_ = nullptr;
  torch::Tensor barrier_buf_;  // (1,) float32
};

// Rank 0 publishes the unique id; the others wait for it (bounded by the timeout).
ncclUniqueId exchangeUniqueId(Store& store, const std::string& key, int rank,
                              std::chrono::milliseconds timeout) {
  ncclUniqueId id;
  if (rank == 0) {
    const ncclResult_t r = ncclGetUniqueId(&id);
    if (r != ncclSuccess)
      throw CommError("nccl: ncclGetUniqueId failed: " + ncclErrorText(r, nullptr));
    store.set(key, std::string(reinterpret_cast<const char*>(&id), sizeof(id)));
    return id;
  }
  std::string bytes;
  try {
    bytes = store.get(key, timeout);
  } catch (const TimeoutError&) {
    throw TimeoutError("nccl: rank " + std::to_string(rank) + " waited " +
                       std::to_string(timeout.count()) + " ms for rank 0's unique id (key " + key +
                       ")");
  }
  if (bytes.size() != sizeof(id))
    throw CommError("nccl: malformed unique id under store key " + key);
  std::memcpy(&id, bytes.data(), sizeof(id));
  return id;
}

}  // namespace

std::unique_ptr<NcclCommunicator> makeNcclCommunicator(Store& store, const std::string& prefix,
                                                       int rank, int size, NcclOptions options) {
  if (options.timeout.count() <= 0) options.timeout = store.timeout();
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();
    throw CommError("nccl backend: no CUDA device is visible (use dist.backend: gloo)");
  }
  int device = options.device;
  if (device < 0) checkCuda(cudaGetDevice(&device), "cudaGetDevice");
  if (device >= count)
    throw CommError("nccl backend: rank " + std::to_string(rank) +
                    " wants cuda:" + std::to_string(device) + " but only " + std::to_string(count) +
                    " devices are visible");
  checkCuda(cudaSetDevice(device), "cudaSetDevice");
  const ncclUniqueId id = exchangeUniqueId(store, prefix + "nccl_unique_id", rank, options.timeout);

  // Nonblocking, so joining can be bounded by the timeout and aborted (a blocking
  // ncclCommInitRank waits forever for a rank that never comes).
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclComm_t comm = nullptr;
  ncclResult_t r = ncclCommInitRankConfig(&comm, size, id, rank, &config);
  const auto deadline = Clock::now() + options.timeout;
  while (r == ncclInProgress) {
    if (Clock::now() > deadline) {
      ncclCommAbort(comm);
      throw TimeoutError("nccl: rank " + std::to_string(rank) + " of " + std::to_string(size) +
                         " waited " + std::to_string(options.timeout.count()) +
                         " ms for the other ranks to join the communicator (" + prefix + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ncclCommGetAsyncError(comm, &r);
  }
  if (r != ncclSuccess) {
    const std::string text = ncclErrorText(r, comm);
    if (comm != nullptr) ncclCommAbort(comm);
    throw CommError("nccl: rank " + std::to_string(rank) + " of " + std::to_string(size) +
                    " could not join the communicator: " + text);
  }
  auto core = std::make_shared<NcclCore>(comm, rank, size, device, options);
  return std::make_unique<NcclCommunicatorImpl>(std::move(core));
}

bool ncclAvailable() { return true; }

std::string ncclVersion() {
  int v = 0;
  if (ncclGetVersion(&v) != ncclSuccess) return "";
  return std::to_string(v / 10000) + "." + std::to_string(v % 10000 / 100) + "." +
         std::to_string(v % 100);  // 22703 -> 2.27.3
}

}  // namespace trainrun
