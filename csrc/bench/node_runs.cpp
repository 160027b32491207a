// Spawning, waiting for and stopping the node commands of one benchmark run.
#include "bench/node_runs.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "core/clock.h"
#include "core/error.h"
#include "core/strings.h"
#include "launch/process.h"

namespace trainrun::bench {
namespace {

// The command in its own process group (killed with this process), output to its log.
pid_t start(const NodeCommand& c) {
  const int fd = ::open(c.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw StorageError("cannot write " + c.log_path);
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  try {
    const pid_t pid = launch::spawnInOwnGroup(c.argv, env, fd).pid;
    ::close(fd);
    return pid;
  } catch (...) {
    ::close(fd);
    throw;
  }
}

std::string lastLine(const std::string& path) { return lastLineWith(path, ""); }

}  // namespace

std::string lastLineWith(const std::string& log_path, const std::string& marker) {
  std::ifstream in(log_path);
  std::string line, found;
  while (std::getline(in, line))
    if (!trim(line).empty() && line.find(marker) != std::string::npos) found = line;
  return found;
}

void runTogether(const std::vector<NodeCommand>& commands, int timeout_s) {
  std::vector<pid_t> pids;
  for (const NodeCommand& c : commands) pids.push_back(start(c));
  const Clock::time_point began = Clock::now();
  std::string failure;
  size_t running = pids.size();
  while (running > 0) {
    for (size_t i = 0; i < pids.size(); ++i) {
      if (pids[i] <= 0) continue;
      int status = 0;
      if (::waitpid(pids[i], &status, WNOHANG) != pids[i]) continue;
      pids[i] = 0;
      --running;
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (!ok && failure.empty())
        failure = "node " + std::to_string(i) + " " +
                  (WIFEXITED(status) ? "exited " + std::to_string(WEXITSTATUS(status))
                                     : "was killed by signal " + std::to_string(WTERMSIG(status))) +
                  " (" + commands[i].log_path + "): " + lastLine(commands[i].log_path);
    }
    if (failure.empty() && secondsSince(began) > timeout_s)
      failure = "the run took over " + std::to_string(timeout_s) +
                " s (--timeout); node 0's log: " + commands[0].log_path;
    if (!failure.empty()) {
      for (pid_t pid : pids) launch::signalGroup(pid, SIGKILL);
    }
    if (running > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!failure.empty()) throw Error("trainrun bench: " + failure);
}

}  // namespace trainrun::bench
