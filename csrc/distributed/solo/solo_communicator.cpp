// The world-of-one communicator: identity collectives that complete at once.
#include "distributed/solo/solo_communicator.h"

#include <atomic>
#include <string>
#include <utility>

#include "core/error.h"

namespace trainrun {
namespace {

// A collective that finished (or failed) when it was issued: wait() only reports the outcome.
class DoneWork : public Work {
 public:
  DoneWork(std::string error, std::chrono::milliseconds group_timeout)
      : Work(group_timeout), error_(std::move(error)) {}
  using Work::wait;
  void wait(std::chrono::milliseconds) override {
    if (!error_.empty()) throw CommError(error_);
  }
  bool isCompleted() override { return true; }

 private:
  const std::string error_;  // empty: completed
};

int64_t bytesOf(const std::vector<torch::Tensor>& tensors) {
  int64_t bytes = 0;
  for (const torch::Tensor& t : tensors) bytes += t.numel() * int64_t(t.element_size());
  return bytes;
}

class SoloCommunicator : public Communicator {
 public:
  SoloCommunicator(torch::Device device, std::chrono::milliseconds timeout)
      : Communicator(timeout), device_(device) {}
  using Communicator::barrier;

  int rank() const override { return 0; }
  int size() const override { return 1; }
  const char* backendName() const override { return "none"; }
  torch::Device device() const override { return device_; }

  std::unique_ptr<Work> allreduce(std::vector<torch::Tensor>& tensors, ReduceOp) override {
    return run("allreduce", bytesOf(tensors), [] {});  // sum, max, min of one value: the value
  }

  std::unique_ptr<Work> broadcast(std::vector<torch::Tensor>& tensors, int root) override {
    if (root != 0)
      throw CommError("broadcast from rank " + std::to_string(root) + " in a world of one rank");
    return run("broadcast", bytesOf(tensors), [] {});  // root's copy is the one there is
  }

  std::unique_ptr<Work> allgather(std::vector<torch::Tensor>& output,
                                  torch::Tensor& input) override {
    if (output.size() != 1)
      throw CommError("allgather needs 1 output tensor in a world of one rank, not " +
                      std::to_string(output.size()));
    if (output[0].sizes() != input.sizes() || output[0].scalar_type() != input.scalar_type())
      throw CommError("allgather's output must match the input's dtype and shape");
    return run("allgather", bytesOf({input}), [&] { output[0].copy_(input); });
  }

  void barrier(std::chrono::milliseconds) override {
    run("barrier", 0, [] {})->wait();
  }

  void throwIfFailed() override {
    if (aborted_) throw CommError(kAborted);
  }
  void abort() override { aborted_ = true; }

 private:
  static constexpr const char* kAborted = "the communicator was aborted";

  // Numbers the collective and does it now; after abort() it fails instead.
  template <typename Do>
  std::unique_ptr<Work> run(const char* op, int64_t bytes, Do work) {
    const CollectiveRecord record = recorder()->issue(op, bytes);
    std::string error;
    if (aborted_) {
      error = record.describe() + " failed: " + kAborted;
    } else {
      work();
    }
    recorder()->finish(record.seq, /*ok=*/error.empty());
    return std::make_unique<DoneWork>(std::move(error), timeout());
  }

  const torch::Device device_;
  std::atomic<bool> aborted_{false};  // abort() may come from another thread
};

}  // namespace

std::unique_ptr<Communicator> makeSoloCommunicator(torch::Device device,
                                                   std::chrono::milliseconds timeout) {
  return std::make_unique<SoloCommunicator>(device, timeout);
}

}  // namespace trainrun
