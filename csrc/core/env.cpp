// Environment lookups: the one place trainrun reads a variable and parses its value.
#include "core/env.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "core/error.h"

namespace trainrun::env {

std::string get(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

std::string findOnPath(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  std::string path = get("PATH");
  if (path.empty()) path = "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    const std::string dir = path.substr(start, end - start);
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    struct stat st;
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    start = end + 1;
  }
  return "";
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
