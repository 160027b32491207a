// Minimal line-oriented logging: one line per call, written atomically to stderr or stdout.
#pragma once

#include <sstream>
#include <string>

namespace trainrun::log {

// Writes `line` plus a newline to stdout in one write() so ranks never interleave mid-line.
void out(const std::string& line);
// Same, to stderr, prefixed "trainrun: warning: " / "trainrun: error: ", folded to one line.
void warn(const std::string& line);
void error(const std::string& line);

// Joins streamable parts into one string: log::out(log::cat("step=", step)).
template <typename... Parts>
std::string cat(const Parts&... parts) {
  std::ostringstream s;
  (s << ... << parts);
  return s.str();
}

}  // namespace trainrun::log
