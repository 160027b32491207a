// CapturedCall: runs a piece of work eagerly to warm up, then as one captured CUDA graph.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>

namespace trainrun {

// The work `body` queues must be the same every run, on the same tensors (static inputs and
// outputs, state updated in place), and must not read anything back to the host. On a CUDA
// device the first `warmup_runs` runs are eager, on a side stream (lazy initialization such as
// cuBLAS handles and workspaces, optimizer state and autograd's device threads happens there,
// not in the graph); the next run captures body on that stream into a graph with its own memory
// pool (the work is recorded, not run, during capture) and replays it; every later run replays
// the graph: one launch, none of body's host code. Autocast's cast cache is off during capture
// (a cached cast would be freed while the graph still reads it). The capture mode is
// thread-local: other threads (a checkpoint writer, a watchdog) may use CUDA meanwhile. On a CPU
// device every run calls body. A failed capture throws Error naming the cause; out of memory
// during the capture rethrows the allocator's own error (the work does not fit, graph or not).
class CapturedCall {
 public:
  CapturedCall(torch::Device device, int warmup_runs);
  ~CapturedCall();
  CapturedCall(const CapturedCall&) = delete;
  CapturedCall& operator=(const CapturedCall&) = delete;

  void run(const std::function<void()>& body);
  // The graph exists: runs replay it.
  bool captured() const { return captured_; }

 private:
  torch::Device device_;
  int warmup_runs_;
  int runs_ = 0;
  bool captured_ = false;
  struct Cuda;  // the graph and the side stream (CUDA builds)
  std::unique_ptr<Cuda> cuda_;
};

}  // namespace trainrun
