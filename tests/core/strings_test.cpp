// String helpers: trimming, folding to one line, plurals, whole numbers, base64.
#include "core/strings.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "core/error.h"

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

TEST(Strings, WholeNumbersAreDigitsOnlyWithinTheRange) {
  EXPECT_EQ(wholeNumber("0", 0, 3), 0);
  EXPECT_EQ(wholeNumber("007", 0, 10), 7);
  EXPECT_EQ(wholeNumber("65535", 0, 65535), 65535);
  EXPECT_EQ(wholeNumber("9223372036854775807", 0, INT64_MAX), std::nullopt);  // 19 digits
  EXPECT_EQ(wholeNumber("999999999999999999", 0, INT64_MAX), 999999999999999999);
  for (const char* bad :
       {"", " 1", "1 ", "+1", "-1", "1e3", "0x10", "1.0", "4", "99999999999999999999"})
    EXPECT_EQ(wholeNumber(bad, 0, 3), std::nullopt) << bad;
  EXPECT_EQ(wholeNumber("0", 1, 3), std::nullopt);
  EXPECT_EQ(parseWholeNumber("12", "--steps", 6, 100), 12);
  try {
    parseWholeNumber("+12", "--steps", 6, 100);
    FAIL() << "+12 accepted";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "--steps needs a whole number from 6 to 100, got '+12'");
  }
}

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
