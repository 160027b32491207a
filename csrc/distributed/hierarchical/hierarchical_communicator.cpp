// Collectives composed of a shared-memory group within each node and a Gloo group of node leaders.
#include "distributed/hierarchical/hierarchical_communicator.h"

#include <exception>
#include <functional>
#include <utility>

#include "core/clock.h"
#include "core/error.h"
#include "distributed/collective_queue.h"

namespace trainrun {
namespace {

// Waits on an inner collective are sliced so that closing the communicator is noticed.
constexpr std::chrono::milliseconds kWaitSlice{50};

// The first line of an inner group's error, prefixed with the outer collective it served.
std::exception_ptr wrapError(const std::string& what, std::exception_ptr inner) {
  try {
    std::rethrow_exception(inner);
  } catch (const TimeoutError& e) {
    return std::make_exception_ptr(
        TimeoutError("hierarchical " + what + " timed out: " + e.what()));
  } catch (const std::exception& e) {
    return std::make_exception_ptr(CommError("hierarchical " + what + " failed: " + e.what()));
  }
}

class HierarchicalCommunicator : public Communicator {
 public:
  // local: the node's group (null when it has one rank); leaders: the Gloo group of node
  // leaders (non-null only on local rank 0 when there are several nodes).
  HierarchicalCommunicator(std::unique_ptr<Communicator> local,
                           std::unique_ptr<Communicator> leaders, int rank, int local_size,
                           int nnodes, std::chrono::milliseconds timeout)
      : Communicator(timeout),
        local_(std::move(local)),
        leaders_(std::move(leaders)),
        rank_(rank),
        local_size_(local_size),
        node_rank_(rank / local_size),
        nnodes_(nnodes),
        queue_("hierarchical", recorder(), timeout, wrapError) {}
  ~HierarchicalCommunicator() override {
    queue_.stop();  // an inner wait in progress notices within kWaitSlice
    // The node's group first: closing it mid-collective fails the node's peers at once, while
    // Gloo's teardown waits for its pending work (bounded by the deadline).
    local_.reset();
    leaders_.reset();
  }

  int rank() const override { return rank_; }
  int size() const override { return local_size_ * nnodes_; }
  const char* backendName() const override { return "hierarchical"; }
  torch::Device device() const override { return torch::kCPU; }
  using Communicator::barrier;
  void abort() override {
    if (local_) local_->abort();  // the node's shm group; the leaders' Gloo group has none
  }

  std::unique_ptr<Work> allreduce(std::vector<torch::Tensor>& tensors, ReduceOp op) override {
    for (const auto& t : tensors) checkCpuTensor(t, "hierarchical", "allreduce");
    return enqueue("allreduce", bytesOf(tensors),
                   [this, tensors, op] { allreduceTensors(tensors, op); });
  }

  std::unique_ptr<Work> broadcast(std::vector<torch::Tensor>& tensors, int root) override {
    for (const auto& t : tensors) checkCpuTensor(t, "hierarchical", "broadcast");
    if (root < 0 || root >= size())
      throw CommError("hierarchical broadcast root " + std::to_string(root) + " is not a rank of " +
                      std::to_string(size()));
    return enqueue("broadcast", bytesOf(tensors),
                   [this, tensors, root] { broadcastTensors(tensors, root); });
  }

  std::unique_ptr<Work> allgather(std::vector<torch::Tensor>& output,
                                  torch::Tensor& input) override {
    checkCpuTensor(input, "hierarchical", "allgather");
    if (output.size() != static_cast<size_t>(size()))
      throw CommError("hierarchical allgather needs " + std::to_string(size()) + " output tensors");
    for (const auto& t : output) {
      checkCpuTensor(t, "hierarchical", "allgather");
      if (t.numel() != input.numel() || t.scalar_type() != input.scalar_type())
        throw CommError("hierarchical allgather outputs must match the input's dtype and size");
    }
    return enqueue("allgather", bytesOf(output),
                   [this, output, input] { allgatherTensor(output, input); });
  }

  // An all-reduce of one element: nobody leaves the node's reduction before the whole node is
  // in, the leaders' before every node is, nor the node's broadcast before its leader is out.
  void barrier(std::chrono::milliseconds timeout) override {
    enqueue("barrier", 0, [this] {
      allreduceTensors({torch::zeros({1}, torch::kInt)}, ReduceOp::kSum);
    })->wait(timeout);
  }

 private:
  // Reduce within the node, across the leaders, then the leader's result to the node.
  void allreduceTensors(std::vector<torch::Tensor> tensors, ReduceOp op) {
    if (local_) await(local_->allreduce(tensors, op));
    if (leaders_) {
      std::vector<std::unique_ptr<Work>> works;  // one per tensor: Gloo wants equal shapes
      for (auto& t : tensors) {
        std::vector<torch::Tensor> one{t};
        works.push_back(leaders_->allreduce(one, op));
      }
      for (auto& w : works) await(std::move(w));
    }
    if (local_ && nnodes_ > 1) await(local_->broadcast(tensors, 0));
  }

  // Root -> its node's leader (within the node) -> every leader -> every node.
  void broadcastTensors(std::vector<torch::Tensor> tensors, int root) {
    const int root_node = root / local_size_, root_local = root % local_size_;
    // On the root's node a root other than the leader reaches the whole node at once.
    const bool node_has_it = root_node == node_rank_ && root_local != 0;
    if (local_ && node_has_it) await(local_->broadcast(tensors, root_local));
    if (leaders_) {
      std::vector<std::unique_ptr<Work>> works;
      for (auto& t : tensors) {
        std::vector<torch::Tensor> one{t};
        works.push_back(leaders_->broadcast(one, root_node));
      }
      for (auto& w : works) await(std::move(w));
    }
    if (local_ && !node_has_it) await(local_->broadcast(tensors, 0));
  }

  // The node's inputs gather into its block of a (size, n) buffer, the leaders exchange
  // blocks, and each leader hands the whole buffer to its node. Ranks are node-major, so row r
  // is rank r's input.
  void allgatherTensor(std::vector<torch::Tensor> output, torch::Tensor input) {
    const int64_t n = input.numel();
    torch::Tensor flat = input.view({n});
    torch::Tensor all = torch::empty({size(), n}, input.options());             // (size, n)
    torch::Tensor node = all.narrow(0, node_rank_ * local_size_, local_size_);  // (local_size, n)
    if (local_) {
      std::vector<torch::Tensor> rows;
      for (int i = 0; i < local_size_; ++i) rows.push_back(node[i]);
      await(local_->allgather(rows, flat));
    } else {
      node[0].copy_(flat);
    }
    if (leaders_) {
      std::vector<torch::Tensor> blocks;  // nnodes x (local_size * n)
      for (int k = 0; k < nnodes_; ++k)
        blocks.push_back(all.narrow(0, k * local_size_, local_size_).view({-1}));
      torch::Tensor mine = node.reshape({-1}).clone();  // not aliasing its own output block
      await(leaders_->allgather(blocks, mine));
    }
    if (local_ && nnodes_ > 1) {
      std::vector<torch::Tensor> whole{all};
      await(local_->broadcast(whole, 0));
    }
    for (int r = 0; r < size(); ++r) output[r].view({n}).copy_(all[r]);
  }

  // Waits for an inner collective within the current one's deadline; rethrows its failure.
  void await(std::unique_ptr<Work> work) {
    while (true) {
      if (work->isCompleted()) {
        work->wait(timeout());  // returns at once, or rethrows the inner failure
        return;
      }
      if (queue_.stopping()) throw CommError("the communicator was closed before it finished");
      if (Clock::now() > deadline_)
        throw TimeoutError("no result within " + std::to_string(timeout().count()) +
                           " ms on rank " + std::to_string(rank_) +
                           " (a peer rank is stuck or gone)");
      try {
        work->wait(kWaitSlice);
        return;
      } catch (const TimeoutError&) {
        // The slice ran out, or the inner collective timed out: isCompleted() tells which.
      }
    }
  }

  // Queues `fn` as one collective; its inner waits share one deadline from when it starts.
  std::unique_ptr<Work> enqueue(const char* op, int64_t bytes, std::function<void()> fn) {
    return queue_.enqueue(op, bytes, [this, fn = std::move(fn)](const std::string&) {
      deadline_ = Clock::now() + timeout();
      fn();
    });
  }

  std::unique_ptr<Communicator> local_;
  std::unique_ptr<Communicator> leaders_;
  const int rank_;
  const int local_size_;
  const int node_rank_;
  const int nnodes_;
  Clock::time_point deadline_;  // the running collective's (worker thread only)
  CollectiveQueue queue_;       // last: its worker stops before the groups go
};

}  // namespace

std::unique_ptr<Communicator> makeHierarchicalCommunicator(Store& store, const std::string& prefix,
                                                           int rank, int size, int local_rank,
                                                           int local_size, int node_rank,
                                                           int nnodes,
                                                           HierarchicalOptions options) {
  if (local_size < 1 || nnodes < 1 || size != local_size * nnodes || local_rank < 0 ||
      local_rank >= local_size || node_rank < 0 || node_rank >= nnodes ||
      rank != node_rank * local_size + local_rank)
    throw ConfigError(
        "dist.backend: hierarchical needs the same number of ranks on every node, "
        "numbered node by node (got RANK=" +
        std::to_string(rank) + ", WORLD_SIZE=" + std::to_string(size) + ", LOCAL_RANK=" +
        std::to_string(local_rank) + ", LOCAL_WORLD_SIZE=" + std::to_string(local_size) +
        ", GROUP_RANK=" + std::to_string(node_rank) + " of " + std::to_string(nnodes) + " nodes)");
  if (options.timeout.count() <= 0) options.timeout = store.timeout();
  if (options.shm.timeout.count() <= 0) options.shm.timeout = options.timeout;
  if (options.gloo.timeout.count() <= 0) options.gloo.timeout = options.timeout;
  std::unique_ptr<Communicator> local, leaders;
  if (local_size > 1)
    local = makeShmCommunicator(store, prefix + "node-" + std::to_string(node_rank) + "/",
                                local_rank, local_size, options.shm);
  if (local_rank == 0 && nnodes > 1)
    leaders = makeGlooCommunicator(store, prefix + "leaders/", node_rank, nnodes, options.gloo);
  return std::make_unique<HierarchicalCommunicator>(std::move(local), std::move(leaders), rank,
                                                    local_size, nnodes, options.timeout);
}

}  // namespace trainrun
