// Line-oriented logging to stdout/stderr with one write() per line.
#include "core/logging.h"

#include <unistd.h>

#include "core/file.h"
#include "core/strings.h"

namespace trainrun::log {

void out(const std::string& line) { writeLine(STDOUT_FILENO, line); }
void warn(const std::string& line) {
  writeLine(STDERR_FILENO, "trainrun: warning: " + oneLine(line));
}
void error(const std::string& line) {
  writeLine(STDERR_FILENO, "trainrun: error: " + oneLine(line));
}

}  // namespace trainrun::log
