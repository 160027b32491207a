// The generation counter: an integer string in the store, moved on by compare-and-set.
#include "store/generation.h"

#include <sstream>

#include "core/error.h"

namespace trainrun {
int64_t currentGeneration(Store& store) { return store.add(kGenerationKey, 0); }

int64_t advanceGeneration(Store& store, int64_t from) {
  store.add(kGenerationKey, 0);  // compare-and-set on a missing key would never set it
  // add() keeps the counter as a decimal string, so compare-and-set sees the same text.
  const std::string after =
      store.compareSet(kGenerationKey, std::to_string(from), std::to_string(from + 1));
  return std::stoll(after);
}

int GroupPlan::firstRank(int id) const {
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i] == id) return static_cast<int>(i) * nproc;
  return -1;
}

std::string formatPlan(const GroupPlan& plan) {
  std::string text = std::to_string(plan.nproc);
  for (int id : plan.nodes) text += " " + std::to_string(id);
  return text;
}

GroupPlan parsePlan(const std::string& text) {
  std::istringstream in(text);
  GroupPlan plan;
  if (!(in >> plan.nproc) || plan.nproc < 1) throw CommError("malformed group plan '" + text + "'");
  for (int id = 0; in >> id;) plan.nodes.push_back(id);
  return plan;
}

std::optional<GroupPlan> latestPlan(Store& store, int64_t generation) {
  for (int64_t g = generation; g >= 0; --g)
    if (store.check({planKey(g)})) return parsePlan(store.get(planKey(g)));
  return std::nullopt;
}

}  // namespace trainrun
