// The launcher's command line: flags, CONFIG or `-- COMMAND`, parsed into LaunchOptions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace trainrun::launch {

inline constexpr int kDefaultNprocPerNode = 1;
inline constexpr const char* kDefaultMasterAddr = "127.0.0.1";
inline constexpr uint16_t kDefaultMasterPort = 29500;
inline constexpr std::chrono::milliseconds kDefaultGracePeriod{std::chrono::seconds(10)};

// What to launch and how. Exactly one of config_path / command is set unless help is.
struct LaunchOptions {
  int nproc_per_node = kDefaultNprocPerNode;
  int nnodes = 1;
  std::string master_addr = kDefaultMasterAddr;
  uint16_t master_port = kDefaultMasterPort;
  // Time between SIGTERM and SIGKILL when stopping ranks.
  std::chrono::milliseconds grace_period = kDefaultGracePeriod;
  std::string config_path;             // CONFIG: run the built-in worker on this job config
  std::vector<std::string> overrides;  // --set key=value, in order (CONFIG runs only)
  std::vector<std::string> command;    // -- COMMAND ARGS...: run this as each rank's worker
  bool help = false;                   // --help: print usageText() and exit 0
};

// Parses the arguments after argv[0]. Accepts `--flag value`, `--flag=value` and torchrun's
// underscore spellings (--nproc_per_node). Throws ConfigError with one line naming the flag
// and the fix.
LaunchOptions parseCommandLine(const std::vector<std::string>& args);

// The --help text, ending in a newline.
std::string usageText();

}  // namespace trainrun::launch
