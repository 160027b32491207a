// CapturedCall: warm-up runs on a side stream, one capture, then graph replays.
#include "train/captured_call.h"

#include <ATen/autocast_mode.h>

#include <exception>
#include <string>

#include "core/error.h"
#include "core/strings.h"
#include "train/out_of_memory.h"

#if TRAINRUN_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace trainrun {

#if TRAINRUN_WITH_CUDA
struct CapturedCall::Cuda {
  explicit Cuda(torch::Device device)
      : side(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device.index())) {}
  c10::cuda::CUDAStream side;
  at::cuda::CUDAGraph graph;
};

namespace {

// `waiter` runs what is queued on it after what is queued on `first` so far.
void streamWaits(const c10::cuda::CUDAStream& waiter, const c10::cuda::CUDAStream& first) {
  at::cuda::CUDAEvent event;
  event.record(first);
  event.block(waiter);
}

}  // namespace
#else
struct CapturedCall::Cuda {};
#endif

CapturedCall::CapturedCall(torch::Device device, int warmup_runs)
    : device_(device), warmup_runs_(warmup_runs) {
  if (!device_.is_cuda()) return;
#if TRAINRUN_WITH_CUDA
  if (!device_.has_index()) device_ = torch::Device(torch::kCUDA, c10::cuda::current_device());
  c10::cuda::CUDAGuard guard(device_);
  cuda_ = std::make_unique<Cuda>(device_);
#else
  throw Error("a CUDA graph needs a CUDA build of trainrun (TRAINRUN_WITH_CUDA=ON)");
#endif
}

CapturedCall::~CapturedCall() = default;

void CapturedCall::run(const std::function<void()>& body) {
  ++runs_;
  if (!cuda_) {
    body();
    return;
  }
#if TRAINRUN_WITH_CUDA
  c10::cuda::CUDAGuard guard(device_);
  const c10::cuda::CUDAStream main = c10::cuda::getCurrentCUDAStream(device_.index());
  if (captured_) {
    cuda_->graph.replay();  // on the current stream, after the inputs' copies
    return;
  }
  streamWaits(cuda_->side, main);  // the side stream starts after the inputs' copies
  {
    c10::cuda::CUDAStreamGuard on_side(cuda_->side);
    if (runs_ <= warmup_runs_) {
      body();
    } else {
      const bool cache = at::autocast::is_autocast_cache_enabled();
      at::autocast::set_autocast_cache_enabled(false);
      cuda_->graph.capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
      std::string failure;
      std::exception_ptr out_of_memory;
      try {
        body();
        cuda_->graph.capture_end();
      } catch (const c10::Error& e) {
        failure = e.what_without_backtrace();
        if (outOfMemoryReason(e)) out_of_memory = std::current_exception();
      } catch (const std::exception& e) {
        failure = e.what();
      }
      if (!failure.empty()) {
        at::autocast::set_autocast_cache_enabled(cache);
        try {
          cuda_->graph.capture_end();  // ends the stream's capture; fails for a broken one
        } catch (const std::exception&) {
        }
        // The step does not fit, graph or not: the caller's out-of-memory line says what to
        // change (running without the graph would not help).
        if (out_of_memory) std::rethrow_exception(out_of_memory);
        throw Error("train.cuda_graph: the step could not be captured (" + oneLine(failure) +
                    "); run without train.cuda_graph");
      }
      at::autocast::set_autocast_cache_enabled(cache);
      captured_ = true;
    }
  }
  streamWaits(main, cuda_->side);
  if (captured_) cuda_->graph.replay();  // the captured run's work: capture only recorded it
#endif
}

}  // namespace trainrun
