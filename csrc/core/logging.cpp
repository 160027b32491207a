// Line-oriented logging to stdout/stderr with one write() per line.
#include "core/logging.h"

#include <unistd.h>

namespace trainrun::log {
namespace {

void writeLine(int fd, std::string line) {
  line.push_back('\n');
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n <= 0) return;  // Nowhere to report a failing stdout; drop the line.
    p += n;
    left -= static_cast<size_t>(n);
  }
}

// Errors must stay one line: fold newlines (c10 messages carry source excerpts) into spaces.
std::string oneLine(const std::string& text) {
  std::string line;
  for (char c : text) {
    bool space = c == '\n' || c == '\r' || c == '\t' || c == ' ';
    if (!space)
      line.push_back(c);
    else if (!line.empty() && line.back() != ' ')
      line.push_back(' ');
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

}  // namespace

void out(const std::string& line) { writeLine(STDOUT_FILENO, line); }
void warn(const std::string& line) {
  writeLine(STDERR_FILENO, "trainrun: warning: " + oneLine(line));
}
void error(const std::string& line) {
  writeLine(STDERR_FILENO, "trainrun: error: " + oneLine(line));
}

}  // namespace trainrun::log
