// ElasticGroup: a rank's membership in an elastic job: join a generation, notice its end.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "distributed/communicator.h"
#include "store/store.h"

namespace trainrun {

struct DistContext;

// Builds this rank's communicator for one generation; `prefix` keeps each generation's keys
// apart in the store.
using CommunicatorFactory = std::function<std::unique_ptr<Communicator>(const std::string& prefix)>;

// Joins generations of the job (see store/generation.h). A watcher thread with its own
// store connection polls the generation counter every `poll`; when the counter moves past this
// rank's generation, it aborts the current communicator, so a collective waiting on a dead peer
// fails at once instead of at the deadline. Threads: the training thread calls join()/leave();
// the watcher only reads the counter and aborts.
class ElasticGroup {
 public:
  // `rank` and `world_size` (the launch's) hold while no generation has a GroupPlan; with
  // plans, this rank is LOCAL_RANK `local_rank` of node `node_id` (GROUP_RANK).
  ElasticGroup(std::unique_ptr<Store> watch_store, int rank, int world_size, int node_id,
               int local_rank, std::chrono::milliseconds poll = std::chrono::milliseconds(100));
  ~ElasticGroup();
  ElasticGroup(const ElasticGroup&) = delete;
  ElasticGroup& operator=(const ElasticGroup&) = delete;

  // Waits until every rank of the newest generation has arrived, then builds its communicator
  // with `make` (under "gen-<g>/"); rank() and worldSize() are this generation's. A generation
  // that ends while ranks gather is skipped; a node that is not (yet) in the plan waits for
  // one that admits it. Throws TimeoutError when a generation's ranks do not all arrive within
  // the store's deadline (each generation gathers on a deadline of its own).
  std::unique_ptr<Communicator> join(Store& store, const CommunicatorFactory& make);
  // This rank's current generation ended (its collective failed: `why`): moves the counter on
  // unless another rank or agent already did, and returns. The caller destroys its
  // communicator (closing sockets and failing the peers' collectives) before join().
  void leave(Store& store, const std::string& why);

  int64_t generation() const { return generation_.load(); }
  int rank() const { return rank_; }
  int worldSize() const { return world_size_; }
  // True once the counter has moved past generation(): the group is re-forming.
  bool ended() const { return ended_.load(); }
  // The communicator the watcher aborts when the generation ends; null while there is none.
  // The caller clears it before destroying the communicator.
  void watch(Communicator* comm);

 private:
  void run();

  std::unique_ptr<Store> watch_store_;
  int rank_, world_size_;  // this generation's
  const int node_id_, local_rank_;
  const std::chrono::milliseconds poll_;
  std::atomic<int64_t> generation_{-1};
  std::atomic<bool> ended_{false};
  std::atomic<bool> stop_{false};
  std::mutex mu_;  // guards comm_ against abort() during a swap
  Communicator* comm_ = nullptr;
  std::thread watcher_;
};

}  // namespace trainrun
