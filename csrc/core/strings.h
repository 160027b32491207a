// Small string helpers shared across folders.
#pragma once

#include <string>

namespace trainrun {

// `s` without leading and trailing spaces, tabs and line ends.
inline std::string trim(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  const size_t end = s.find_last_not_of(" \t\r\n");
  return s.substr(begin, end - begin + 1);
}

}  // namespace trainrun
