// String helpers: trimming, folding to one line, plurals.
#include "core/strings.h"

#include <gtest/gtest.h>

namespace trainrun {
namespace {

TEST(Strings, OneLineFoldsWhitespaceRuns) {
  EXPECT_EQ(oneLine("  a\n  b\r\n\tc  "), "a b c");
  EXPECT_EQ(oneLine("plain"), "plain");
  EXPECT_EQ(oneLine("\n\n"), "");
}

TEST(Strings, Plural) {
  EXPECT_EQ(plural(1, "attempt"), "1 attempt");
  EXPECT_EQ(plural(0, "rank"), "0 ranks");
  EXPECT_EQ(plural(3, "other rank"), "3 other ranks");
}

TEST(Strings, Trim) { EXPECT_EQ(trim(" \t x y \r\n"), "x y"); }

}  // namespace
}  // namespace trainrun
