// Hierarchical communicator: the layout it accepts. Its collectives over "nodes" of thread ranks
// are in communicator_conformance_test.cpp.
#include "distributed/hierarchical/hierarchical_communicator.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "support/thread_ranks.h"

namespace trainrun {
namespace {

TEST(HierarchicalCommunicator, RejectsAnInconsistentLayout) {
  auto host = Store::host(0, testing::kStoreTimeout);
  auto store = Store::connect("127.0.0.1", host->port(), testing::kStoreTimeout);
  // 5 ranks cannot be 2 nodes of 2; rank 1 of node 1 is rank 3, not 1.
  EXPECT_THROW(makeHierarchicalCommunicator(*store, "x/", 0, 5, 0, 2, 0, 2), ConfigError);
  EXPECT_THROW(makeHierarchicalCommunicator(*store, "x/", 1, 4, 1, 2, 1, 2), ConfigError);
}

}  // namespace
}  // namespace trainrun
