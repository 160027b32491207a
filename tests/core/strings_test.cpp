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

TEST(Strings, Base64RoundTripsEveryLengthAndByte) {
  EXPECT_EQ(base64Encode(""), "");
  EXPECT_EQ(base64Encode("f"), "Zg==");
  EXPECT_EQ(base64Encode("fo"), "Zm8=");
  EXPECT_EQ(base64Encode("foo"), "Zm9v");
  EXPECT_EQ(base64Encode("foobar"), "Zm9vYmFy");
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  for (size_t n = 0; n <= all.size(); n += 37) {
    EXPECT_EQ(base64Decode(base64Encode(all.substr(0, n))), all.substr(0, n));
  }
  EXPECT_THROW(base64Decode("Zm9"), std::invalid_argument);
  EXPECT_THROW(base64Decode("Z=9v"), std::invalid_argument);
  EXPECT_THROW(base64Decode("Zm9*"), std::invalid_argument);
}

}  // namespace
}  // namespace trainrun
