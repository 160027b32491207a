// Small string helpers shared across folders (the ones too long to live in the header).
#include "core/strings.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "core/error.h"

namespace trainrun {
namespace {

// Optimal string alignment distance: Levenshtein plus adjacent transpositions, the most
// common typo ("stpes" is one edit from "steps", not two).
size_t editDistance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::string closestMatch(const std::string& word, const std::vector<std::string>& candidates) {
  // At most 2 edits, and fewer than a third of the word: "lr" must not suggest "name".
  const size_t limit = std::min<size_t>(2, std::max<size_t>(1, word.size() / 3));
  std::string best;
  size_t best_distance = limit + 1;
  for (const std::string& candidate : candidates) {
    const size_t distance = editDistance(word, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::string joinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

std::string oneLine(const std::string& text) {
  std::string line;
  for (char c : text) {
    const bool space = c == '\n' || c == '\r' || c == '\t' || c == ' ';
    if (!space)
      line.push_back(c);
    else if (!line.empty() && line.back() != ' ')
      line.push_back(' ');
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

std::string plural(long long n, const std::string& word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

namespace {
constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}  // namespace

std::string base64Encode(const std::string& bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = 0;
    for (size_t j = 0; j < 3; ++j)
      v = (v << 8) | (j < n ? static_cast<unsigned char>(bytes[i + j]) : 0u);
    for (size_t j = 0; j < 4; ++j) out += j <= n ? kBase64[(v >> (18 - 6 * j)) & 63] : '=';
  }
  return out;
}

std::string base64Decode(const std::string& text) {
  if (text.size() % 4 != 0) throw std::invalid_argument("base64 text of a length not 4k");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (size_t j = 0; j < 4; ++j) {
      const char c = text[i + j];
      const char* at = c == '\0' ? nullptr : std::strchr(kBase64, c);
      if (c == '=' && i + 4 == text.size() && j >= 2) {
        ++pad;
        v <<= 6;
        continue;
      }
      if (at == nullptr || pad > 0) throw std::invalid_argument("not base64");
      v = (v << 6) | static_cast<uint32_t>(at - kBase64);
    }
    for (int j = 0; j < 3 - pad; ++j) out += static_cast<char>((v >> (16 - 8 * j)) & 255);
  }
  return out;
}

std::vector<std::string> splitList(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string item = trim(text.substr(start, comma - start));
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::optional<int64_t> wholeNumber(const std::string& text, int64_t min, int64_t max) {
  // 18 digits always fit int64_t.
  const size_t first = std::min(text.find_first_not_of('0'), text.size());
  if (text.empty() || text.size() - first > 18 ||
      text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  const int64_t v = text.size() == first ? 0 : std::stoll(text.substr(first));
  if (v < min || v > max) return std::nullopt;
  return v;
}

int64_t parseWholeNumber(const std::string& text, const std::string& flag, int64_t min,
                         int64_t max) {
  if (const std::optional<int64_t> v = wholeNumber(text, min, max)) return *v;
  throw ConfigError(flag + " needs a whole number from " + std::to_string(min) + " to " +
                    std::to_string(max) + ", got '" + text + "'");
}

}  // namespace trainrun
