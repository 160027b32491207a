// Communicator over c10d::ProcessGroupGloo; c10d errors become trainrun CommError/TimeoutError.
#include "distributed/gloo/gloo_communicator.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include <cstdlib>
#include <mutex>

#include "core/error.h"
#include "distributed/collective_queue.h"

namespace trainrun {
namespace {

// Turns c10d's own flight recorder off (unless the user set its size) before the first group
// exists: trainrun records every collective itself (hang reports), and c10d's recorder gathers a
// traceback per collective and updates an unlocked map when two groups of one process issue
// their first collectives at once (a crash seen with thread ranks).
void disableC10dFlightRecorder() {
  static std::once_flag once;
  std::call_once(once, [] { ::setenv("TORCH_FR_BUFFER_SIZE", "0", /*overwrite=*/0); });
}

c10d::ReduceOp toC10d(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return c10d::ReduceOp::SUM;
    case ReduceOp::kMax:
      return c10d::ReduceOp::MAX;
    case ReduceOp::kMin:
      return c10d::ReduceOp::MIN;
  }
  return c10d::ReduceOp::SUM;
}

class GlooWork : public Work {
 public:
  GlooWork(c10::intrusive_ptr<c10d::Work> work, CollectiveRecord record,
           std::shared_ptr<FlightRecorder> recorder, std::chrono::milliseconds group_timeout)
      : Work(group_timeout),
        work_(std::move(work)),
        record_(std::move(record)),
        recorder_(std::move(recorder)) {}
  using Work::wait;

  void wait(std::chrono::milliseconds timeout) override {
    try {
      work_->wait(timeout);
    } catch (const std::exception& e) {
      recorder_->finish(record_.seq, /*ok=*/false);
      std::string msg = e.what();
      msg = msg.substr(0, msg.find('\n'));  // c10d appends a C++ stack trace; keep line one
      if (msg.find("imed out") != std::string::npos)
        throw TimeoutError("gloo " + record_.describe() + " timed out after " +
                           std::to_string(timeout.count()) + " ms: " + msg);
      throw CommError("gloo " + record_.describe() +
                      " failed (a peer rank probably exited): " + msg);
    }
    recorder_->finish(record_.seq, /*ok=*/true);
  }
  bool isCompleted() override { return work_->isCompleted(); }

 private:
  c10::intrusive_ptr<c10d::Work> work_;
  const CollectiveRecord record_;
  const std::shared_ptr<FlightRecorder> recorder_;
};

class GlooCommunicator : public Communicator {
 public:
  GlooCommunicator(c10::intrusive_ptr<c10d::ProcessGroupGloo> pg, std::chrono::milliseconds timeout)
      : Communicator(timeout), pg_(std::move(pg)) {}
  using Communicator::barrier;

  int rank() const override { return pg_->getRank(); }
  int size() const override { return pg_->getSize(); }
  const char* backendName() const override { return "gloo"; }
  torch::Device device() const override { return torch::kCPU; }

  std::unique_ptr<Work> allreduce(std::vector<torch::Tensor>& tensors, ReduceOp op) override {
    c10d::AllreduceOptions opts;
    opts.reduceOp = toC10d(op);
    return wrap("allreduce", bytesOf(tensors), [&] { return pg_->allreduce(tensors, opts); });
  }

  std::unique_ptr<Work> broadcast(std::vector<torch::Tensor>& tensors, int root) override {
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    return wrap("broadcast", bytesOf(tensors), [&] { return pg_->broadcast(tensors, opts); });
  }

  std::unique_ptr<Work> allgather(std::vector<torch::Tensor>& output,
                                  torch::Tensor& input) override {
    std::vector<std::vector<torch::Tensor>> outputs{output};
    std::vector<torch::Tensor> inputs{input};
    // c10d gathers into copies it made of `outputs`' vectors; tensors share storage.
    return wrap("allgather", bytesOf(output), [&] { return pg_->allgather(outputs, inputs); });
  }

  void barrier(std::chrono::milliseconds timeout) override {
    c10d::BarrierOptions opts;
    opts.timeout = timeout;
    wrap("barrier", 0, [&] { return pg_->barrier(opts); })->wait(timeout);
  }

 private:
  // Numbers the collective, then issues it; an issue-time failure counts as a failed one.
  template <typename Issue>
  std::unique_ptr<Work> wrap(const char* op, int64_t bytes, Issue issue) {
    CollectiveRecord record = recorder()->issue(op, bytes);
    c10::intrusive_ptr<c10d::Work> work;
    try {
      work = issue();
    } catch (const std::exception& e) {
      recorder()->finish(record.seq, /*ok=*/false);
      std::string msg = e.what();
      throw CommError("gloo " + record.describe() + " failed: " + msg.substr(0, msg.find('\n')));
    }
    return std::make_unique<GlooWork>(std::move(work), std::move(record), recorder(), timeout());
  }
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg_;
};

}  // namespace

std::unique_ptr<Communicator> makeGlooCommunicator(const Store& store, const std::string& prefix,
                                                   int rank, int size, const GlooOptions& options) {
  disableC10dFlightRecorder();
  const auto timeout = options.timeout.count() > 0 ? options.timeout : store.timeout();
  auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
  if (!options.interface.empty()) {
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(options.interface));
  } else if (!options.hostname.empty()) {
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(options.hostname));
  } else {
    opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  opts->threads = options.threads;
  auto prefixed = c10::make_intrusive<c10d::PrefixStore>(prefix, store.c10dStore());
  try {
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, rank, size, opts);
    return std::make_unique<GlooCommunicator>(std::move(pg), timeout);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    throw CommError("gloo rendezvous failed for rank " + std::to_string(rank) + " of " +
                    std::to_string(size) + ": " + msg.substr(0, msg.find('\n')));
  }
}

}  // namespace trainrun
