// Environment lookups: the one place trainrun reads a variable and parses its value.
#include "core/env.h"

#include <cerrno>
#include <cstdlib>

#include "core/error.h"

namespace trainrun::env {

std::string get(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

std::optional<long long> integer(const char* name, long long lo, long long hi) {
  const std::string text = get(name);
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (*end != '\0' || errno != 0 || v < lo || v > hi)
    throw ConfigError(std::string(name) + "=" + text + " is not an integer from " +
                      std::to_string(lo) + " to " + std::to_string(hi));
  return v;
}

}  // namespace trainrun::env
