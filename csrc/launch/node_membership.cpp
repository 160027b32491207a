// nextPlan and publishPlan: membership arithmetic and the store writes that apply it.
#include "launch/node_membership.h"

#include <algorithm>

#include "core/strings.h"

namespace trainrun::launch {

std::optional<GroupPlan> nextPlan(const GroupPlan& current, const std::set<int>& alive,
                                  int max_nodes, std::string* why) {
  GroupPlan next;
  next.nproc = current.nproc;
  std::vector<std::string> lost, admitted;
  for (int id : current.nodes) {
    if (alive.count(id))
      next.nodes.push_back(id);
    else
      lost.push_back(std::to_string(id));
  }
  for (int id : alive) {  // std::set: in order of id, i.e. of arrival
    if (static_cast<int>(next.nodes.size()) >= max_nodes) break;
    if (std::find(current.nodes.begin(), current.nodes.end(), id) != current.nodes.end()) continue;
    next.nodes.push_back(id);
    admitted.push_back(std::to_string(id));
  }
  if (lost.empty() && admitted.empty()) return std::nullopt;
  std::string text;
  if (!lost.empty()) text = "node " + joinNames(lost) + " lost";
  if (!admitted.empty())
    text += (text.empty() ? "" : "; ") + ("node " + joinNames(admitted) + " admitted");
  *why = text;
  return next;
}

int64_t publishPlan(Store& ranks, const GroupPlan& plan, const std::string& why,
                    bool admitted_only) {
  // Ranks that fail on their own move the counter too; a rank that read an older plan for a
  // generation sees this one appear and gathers again (ElasticGroup::join), so a race between
  // the two only costs one more round.
  const int64_t g = currentGeneration(ranks);
  ranks.set(planKey(g + 1), formatPlan(plan));
  ranks.compareSet(endedKey(g), "", (admitted_only ? "admit: " : "") + why);
  return advanceGeneration(ranks, g);
}

}  // namespace trainrun::launch
