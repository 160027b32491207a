// Small string helpers shared across folders.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace trainrun {

// `s` without leading and trailing spaces, tabs and line ends.
inline std::string trim(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  const size_t end = s.find_last_not_of(" \t\r\n");
  return s.substr(begin, end - begin + 1);
}

// `text` as one line: every run of line ends, tabs and spaces becomes one space, and the ends
// are trimmed. Errors must stay one line; c10 and curl messages carry line breaks.
std::string oneLine(const std::string& text);

// The candidate closest to `word` by edit distance (adjacent transpositions count as one), or
// "" when none is close enough to be a plausible typo (so a suggestion never points at an
// unrelated name).
std::string closestMatch(const std::string& word, const std::vector<std::string>& candidates);

// "a, b, c".
std::string joinNames(const std::vector<std::string>& names);

// "a, b,,c" -> {"a", "b", "c"}: comma-separated items, trimmed, empty ones dropped.
std::vector<std::string> splitList(const std::string& text);

// `text` as a whole number in [min, max] (digits only, at most 18 of them after leading zeros:
// no sign, space or exponent), or nullopt. For callers that word their own error.
std::optional<int64_t> wholeNumber(const std::string& text, int64_t min, int64_t max);

// wholeNumber(text, min, max); else ConfigError "FLAG needs a whole number from MIN to MAX,
// got 'TEXT'".
int64_t parseWholeNumber(const std::string& text, const std::string& flag, int64_t min,
                         int64_t max);

// Standard base64 (RFC 4648, with padding) of arbitrary bytes, and back. base64Decode throws
// std::invalid_argument on a character outside the alphabet or a bad length.
std::string base64Encode(const std::string& bytes);
std::string base64Decode(const std::string& text);

// "1 attempt", "3 attempts": `n` and `word`, with an "s" unless n is 1.
std::string plural(long long n, const std::string& word);

}  // namespace trainrun
