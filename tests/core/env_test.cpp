// Environment lookups: unset and empty mean the same, integers are range-checked in one line.
#include "core/env.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "core/error.h"

namespace trainrun {
namespace {

constexpr const char* kVar = "TRAINRUN_ENV_TEST_VALUE";

TEST(Env, UnsetAndEmptyReadAsEmpty) {
  ::unsetenv(kVar);
  EXPECT_EQ(env::get(kVar), "");
  ::setenv(kVar, "", 1);
  EXPECT_EQ(env::get(kVar), "");
  EXPECT_EQ(env::integer(kVar, 0, 10), std::nullopt);
  ::setenv(kVar, "abc", 1);
  EXPECT_EQ(env::get(kVar), "abc");
  ::unsetenv(kVar);
}

TEST(Env, IntegersAreParsedAndRangeChecked) {
  ::setenv(kVar, "7", 1);
  EXPECT_EQ(env::integer(kVar, 0, 10), 7);
  for (const char* bad : {"11", "-1", "7x", "x", "99999999999999999999"}) {
    ::setenv(kVar, bad, 1);
    try {
      env::integer(kVar, 0, 10);
      ADD_FAILURE() << bad << " accepted";
    } catch (const ConfigError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(std::string(kVar) + "=" + bad), std::string::npos) << msg;
      EXPECT_NE(msg.find("from 0 to 10"), std::string::npos) << msg;
    }
  }
  ::unsetenv(kVar);
}

}  // namespace
}  // namespace trainrun
