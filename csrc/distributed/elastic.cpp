// ElasticGroup: arrival counting per generation and the watcher that aborts a stale group.
#include "distributed/elastic.h"

#include "core/clock.h"
#include "core/error.h"
#include "distributed/generation.h"

namespace trainrun {

ElasticGroup::ElasticGroup(std::unique_ptr<Store> watch_store, int rank, int world_size,
                           std::chrono::milliseconds poll)
    : watch_store_(std::move(watch_store)), rank_(rank), world_size_(world_size), poll_(poll) {
  watcher_ = std::thread([this] { run(); });
}

ElasticGroup::~ElasticGroup() {
  stop_ = true;
  watcher_.join();
}

std::unique_ptr<Communicator> ElasticGroup::join(Store& store, const CommunicatorFactory& make) {
  const Clock::time_point deadline = Clock::now() + store.timeout();
  while (true) {
    const int64_t g = currentGeneration(store);
    // First say where this rank is (its agent moves this generation on if it dies), then arrive.
    store.set(rankGenerationKey(rank_), std::to_string(g));
    store.add(arrivedKey(g), 1);
    bool moved_on = false;
    while (store.add(arrivedKey(g), 0) < world_size_) {
      if (currentGeneration(store) != g) {
        moved_on = true;  // someone failed while we gathered: gather again, in the next one
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
    std::lock_guard<std::mutex> lock(mu_);
    if (comm_ != nullptr) comm_->abort();
  }
}

}  // namespace trainrun
