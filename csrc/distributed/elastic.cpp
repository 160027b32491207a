// ElasticGroup: arrival counting per generation and the watcher that aborts a stale group.
#include "distributed/elastic.h"

#include <optional>

#include "core/clock.h"
#include "core/error.h"
#include "store/generation.h"

namespace trainrun {

ElasticGroup::ElasticGroup(std::unique_ptr<Store> watch_store, int rank, int world_size,
                           int node_id, int local_rank, std::chrono::milliseconds poll)
    : watch_store_(std::move(watch_store)),
      rank_(rank),
      world_size_(world_size),
      node_id_(node_id),
      local_rank_(local_rank),
      poll_(poll) {
  watcher_ = std::thread([this] { run(); });
}

ElasticGroup::~ElasticGroup() {
  stop_ = true;
  watcher_.join();
}

std::unique_ptr<Communicator> ElasticGroup::join(Store& store, const CommunicatorFactory& make) {
  while (true) {
    // Each generation's gathering has its own deadline: one that ends while the ranks gather
    // (an agent made room for a respawned rank) gives the next the whole dist.timeout_s.
    const Clock::time_point deadline = Clock::now() + store.timeout();
    const int64_t g = currentGeneration(store);
    const std::optional<GroupPlan> plan = latestPlan(store, g);
    if (plan) {
      const int first = plan->firstRank(node_id_);
      if (first < 0) {  // not a member (yet): wait for a generation that admits this node
        while (currentGeneration(store) == g) {
          if (Clock::now() > deadline)
            throw TimeoutError("elastic: node " + std::to_string(node_id_) +
                               " was not admitted to the job within " +
                               std::to_string(store.timeout().count() / 1000) +
                               " s (dist.timeout_s); is the job at --nnodes MAX already?");
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        continue;
      }
      rank_ = first + local_rank_;
      world_size_ = plan->worldSize();
    }
    // First say where this rank is (its agent moves this generation on if it dies), then arrive.
    store.set(memberGenerationKey(node_id_, local_rank_), std::to_string(g));
    store.add(arrivedKey(g), 1);
    bool moved_on = false;
    while (store.add(arrivedKey(g), 0) < world_size_) {
      if (currentGeneration(store) != g) {
        moved_on = true;  // someone failed while we gathered: gather again, in the next one
        break;
      }
      // Node 0 wrote a newer plan for this generation after we read ours: gather again.
      if (store.check({planKey(g)}) && store.get(planKey(g)) != (plan ? formatPlan(*plan) : "")) {
        advanceGeneration(store, g);
        moved_on = true;
        break;
      }
      if (Clock::now() > deadline)
        throw TimeoutError("elastic: only " + std::to_string(store.add(arrivedKey(g), 0)) + " of " +
                           std::to_string(world_size_) + " ranks joined generation " +
                           std::to_string(g) + " within " +
                           std::to_string(store.timeout().count() / 1000) +
                           " s (dist.timeout_s); a rank did not come back");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (moved_on) continue;
    generation_ = g;
    ended_ = currentGeneration(store) != g;
    return make("gen-" + std::to_string(g) + "/");
  }
}

void ElasticGroup::leave(Store& store, const std::string& why) {
  const int64_t g = generation_.load();
  // The first to end a generation says why; the others' reasons are its consequences.
  store.compareSet(endedKey(g), "", why);
  advanceGeneration(store, g);
  ended_ = true;
}

void ElasticGroup::watch(Communicator* comm) {
  std::lock_guard<std::mutex> lock(mu_);
  comm_ = comm;
  if (comm_ != nullptr && ended_) comm_->abort();  // it ended while we were building it
}

void ElasticGroup::run() {
  while (!stop_) {
    std::this_thread::sleep_for(poll_);
    const int64_t mine = generation_.load();
    if (mine < 0 || ended_) continue;
    int64_t current = mine;
    try {
      current = currentGeneration(*watch_store_);
    } catch (const std::exception&) {
      continue;  // the store is unreachable: the collectives' own deadline decides
    }
    if (current <= mine || ended_.exchange(true)) continue;
    // Nodes admitted, none lost: the ranks finish their step and leave at its end (the trainer
    // asks ended()); nothing to abort. Otherwise a collective may wait on a lost rank.
    try {
      const std::string why = watch_store_->get(endedKey(mine), std::chrono::milliseconds(500));
      if (why.rfind("admit: ", 0) == 0) continue;
    } catch (const std::exception&) {
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (comm_ != nullptr) comm_->abort();
  }
}

}  // namespace trainrun
