// Running one job's node commands at once, each logging to its own file, bounded in time.
#pragma once

#include <string>
#include <vector>

namespace trainrun::bench {

struct NodeCommand {
  std::vector<std::string> argv;  // argv[0] searched in $PATH; this process's environment
  std::string log_path;           // stdout and stderr
};

// Starts every command, each in its own process group that dies with this process, and
// waits for all. The first failure
// (or the timeout) stops the others and throws Error naming the node, its exit and its log's
// last line.
void runTogether(const std::vector<NodeCommand>& commands, int timeout_s);

// The log's last non-empty line that contains `marker`, or "".
std::string lastLineWith(const std::string& log_path, const std::string& marker);

}  // namespace trainrun::bench
