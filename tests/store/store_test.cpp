// Store: set/get/add/wait through a hosted TCPStore, timeouts, and the free-port fallback.
#include "store/store.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace trainrun {
namespace {

TEST(Store, SetGetAddAcrossClients) {
  auto host = Store::host(0, std::chrono::minutes(2));
  ASSERT_GT(host->port(), 0);
  auto a = Store::connect("127.0.0.1", host->port(), std::chrono::minutes(2));
  auto b = Store::connect("127.0.0.1", host->port(), std::chrono::minutes(2));
  a->set("k", "value");
  EXPECT_EQ(b->get("k"), "value");
  EXPECT_EQ(a->add("n", 2), 2);
  EXPECT_EQ(b->add("n", 3), 5);
}

TEST(Store, GetOfMissingKeyTimesOut) {
  auto host = Store::host(0, std::chrono::minutes(2));
  auto a = Store::connect("127.0.0.1", host->port(), std::chrono::minutes(2));
  EXPECT_THROW(a->get("never", std::chrono::milliseconds(200)), TimeoutError);
}

TEST(Store, TakenPortFallsBackToAFreeOne) {
  auto first = Store::host(0, std::chrono::minutes(2));
  auto second = Store::host(first->port(), std::chrono::minutes(2));
  EXPECT_NE(second->port(), first->port());
  auto c = Store::connect("127.0.0.1", second->port(), std::chrono::minutes(2));
  c->set("x", "1");
  EXPECT_EQ(second->get("x"), "1");
}

}  // namespace
}  // namespace trainrun
