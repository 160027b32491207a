// Communicator over c10d::ProcessGroupGloo; c10d errors become trainrun CommError/TimeoutError.
#include "dist/gloo/gloo_communicator.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include "core/error.h"

namespace trainrun {
namespace {

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
  GlooWork(c10::intrusive_ptr<c10d::Work> work, std::string what)
      : work_(std::move(work)), what_(std::move(what)) {}

  void wait(std::chrono::milliseconds timeout) override {
    try {
      work_->wait(timeout);
    } catch (const std::exception& e) {
      std::string msg = e.what();
      msg = msg.substr(0, msg.find('\n'));  // c10d appends a C++ stack trace; keep line one
      if (msg.find("imed out") != std::string::npos)
        throw TimeoutError("gloo " + what_ + " timed out after " + std::to_string(timeout.count()) +
                           " ms: " + msg);
      throw CommError("gloo " + what_ + " failed (a peer rank probably exited): " + msg);
    }
  }
  bool isCompleted() override { return work_->isCompleted(); }

 private:
  c10::intrusive_ptr<c10d::Work> work_;
  std::string what_;
};

class GlooCommunicator : public Communicator {
 public:
  explicit GlooCommunicator(c10::intrusive_ptr<c10d::ProcessGroupGloo> pg) : pg_(std::move(pg)) {}

  int rank() const override { return pg_->getRank(); }
  int size() const override { return pg_->getSize(); }
  const char* backendName() const override { return "gloo"; }

  std::unique_ptr<Work> allreduce(std::vector<torch::Tensor>& tensors, ReduceOp op) override {
    c10d::AllreduceOptions opts;
    opts.reduceOp = toC10d(op);
    return wrap(pg_->allreduce(tensors, opts), "allreduce");
  }

  std::unique_ptr<Work> broadcast(std::vector<torch::Tensor>& tensors, int root) override {
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    return wrap(pg_->broadcast(tensors, opts), "broadcast");
  }

  std::unique_ptr<Work> allgather(std::vector<torch::Tensor>& output,
                                  torch::Tensor& input) override {
    std::vector<std::vector<torch::Tensor>> outputs{output};
    std::vector<torch::Tensor> inputs{input};
    auto work = wrap(pg_->allgather(outputs, inputs), "allgather");
    // c10d gathers into copies it made of `outputs`' vectors; tensors share storage.
    return work;
  }

  void barrier(std::chrono::milliseconds timeout) override {
    c10d::BarrierOptions opts;
    opts.timeout = timeout;
    wrap(pg_->barrier(opts), "barrier")->wait(timeout);
  }

 private:
  std::unique_ptr<Work> wrap(c10::intrusive_ptr<c10d::Work> work, const char* what) {
    return std::make_unique<GlooWork>(std::move(work), what);
  }
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg_;
};

}  // namespace

std::unique_ptr<Communicator> makeGlooCommunicator(const Store& store, const std::string& prefix,
                                                   int rank, int size, const GlooOptions& options) {
  auto opts = c10d::ProcessGroupGloo::Options::create(options.timeout);
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
    return std::make_unique<GlooCommunicator>(std::move(pg));
  } catch (const std::exception& e) {
    std::string msg = e.what();
    throw CommError("gloo rendezvous failed for rank " + std::to_string(rank) + " of " +
                    std::to_string(size) + ": " + msg.substr(0, msg.find('\n')));
  }
}

}  // namespace trainrun
