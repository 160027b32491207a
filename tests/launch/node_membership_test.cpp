// Tests of nextPlan: lost members leave, newcomers join in order of id up to the maximum.
#include "launch/node_membership.h"

#include <gtest/gtest.h>

namespace trainrun::launch {
namespace {

GroupPlan planOf(std::vector<int> nodes) {
  GroupPlan p;
  p.nproc = 2;
  p.nodes = std::move(nodes);
  return p;
}

TEST(NodeMembership, NothingChangesWhileEveryMemberIsAlive) {
  std::string why;
  EXPECT_FALSE(nextPlan(planOf({0, 1, 2}), {0, 1, 2}, 4, &why));
  EXPECT_FALSE(nextPlan(planOf({0, 1}), {0, 1, 5}, 2, &why));  // no room for node 5
}

TEST(NodeMembership, LostMembersLeaveAndNewcomersJoinUpToTheMaximum) {
  std::string why;
  auto next = nextPlan(planOf({0, 1, 2, 3}), {0, 1, 2}, 4, &why);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->nodes, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(next->worldSize(), 6);
  EXPECT_EQ(why, "node 3 lost");
  next = nextPlan(planOf({0, 1, 2}), {0, 1, 2, 4, 5}, 4, &why);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->nodes, (std::vector<int>{0, 1, 2, 4}));  // 5 waits: at most 4 nodes
  EXPECT_EQ(why, "node 4 admitted");
  next = nextPlan(planOf({0, 1, 2}), {0, 2, 7}, 4, &why);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->nodes, (std::vector<int>{0, 2, 7}));
  EXPECT_EQ(next->firstRank(7), 4);
  EXPECT_EQ(why, "node 1 lost; node 7 admitted");
}

}  // namespace
}  // namespace trainrun::launch
