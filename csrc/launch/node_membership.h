// Elastic node membership (--nnodes MIN:MAX): the next generation's nodes, decided by node 0.
#pragma once

#include <optional>
#include <set>
#include <string>

#include "store/generation.h"
#include "store/store.h"

namespace trainrun::launch {

// What changes the group: members that died leave; live nodes waiting outside join, in order
// of id, while there is room under max_nodes. nullopt when nothing changes. `why` gets one
// line ("node 2 lost; node 4 admitted"). Throws nothing: fewer than min_nodes is the caller's
// to judge (GroupPlan::nodes.size()).
std::optional<GroupPlan> nextPlan(const GroupPlan& current, const std::set<int>& alive,
                                  int max_nodes, std::string* why);

// Node 0's side of a membership change in the ranks' store: writes `plan` as the next
// generation's and moves the counter on, so every rank re-forms with it. `admitted_only`: no
// member was lost, so ranks finish their step first (no collective is aborted). Returns the
// generation the plan took effect in.
int64_t publishPlan(Store& ranks, const GroupPlan& plan, const std::string& why,
                    bool admitted_only);

}  // namespace trainrun::launch
