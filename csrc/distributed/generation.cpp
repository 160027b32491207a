// The generation counter: an integer string in the store, moved on by compare-and-set.
#include "distributed/generation.h"

namespace trainrun {
namespace {

constexpr const char* kGenerationKey = "elastic/generation";

}  // namespace

int64_t currentGeneration(Store& store) { return store.add(kGenerationKey, 0); }

int64_t advanceGeneration(Store& store, int64_t from) {
  store.add(kGenerationKey, 0);  // compare-and-set on a missing key would never set it
  // add() keeps the counter as a decimal string, so compare-and-set sees the same text.
  const std::string after =
      store.compareSet(kGenerationKey, std::to_string(from), std::to_string(from + 1));
  return std::stoll(after);
}

std::string arrivedKey(int64_t generation) {
  return "elastic/" + std::to_string(generation) + "/arrived";
}

std::string rankGenerationKey(int rank) { return "elastic/rank/" + std::to_string(rank); }

std::string endedKey(int64_t generation) {
  return "elastic/" + std::to_string(generation) + "/ended";
}

std::string recoveryKey(int64_t generation) {
  return "elastic/" + std::to_string(generation) + "/recovery";
}

}  // namespace trainrun
