// `trainrun bench scaling` and `trainrun bench predict`: their flags.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace trainrun::bench {

struct ScalingOptions {
  std::string config_path;
  std::vector<int64_t> nodes = {1, 2};        // --nodes 1,2,4
  int64_t nproc_per_node = 1;                 // --nproc-per-node
  std::vector<std::string> modes = {"weak"};  // --mode weak|strong|both
  int64_t steps = 30;                         // --steps: per run; medians skip the first 3
  std::string link;                           // --link RATE,LATENCY or an allreduce --json file
  std::vector<std::string> hosts;             // --hosts ADDR,...: node i runs on hosts[i]
  std::string remote = "ssh {host}";          // --remote: the prefix that runs a command on a host
  int port = 29400;                           // --port: the rendezvous port on hosts[0]
  std::string sweep_key;                      // --sweep KEY=V1,V2: one series per value
  std::vector<std::string> sweep_values;
  std::vector<std::string> overrides;     // --set KEY=VALUE, for every run
  std::string out_dir = "bench-scaling";  // --out: run folders and logs
  std::string json_path;                  // --json
  std::string plot_path;                  // --plot (PNG, gnuplot)
  int timeout_s = 600;                    // --timeout: per run
  // predict only
  std::string profile_path;  // --profile: a profile.json instead of a run
};

// Flags after "bench scaling" (`predict` = after "bench predict": --nodes may hold any counts
// and --link is required). Throws ConfigError, one line naming the flag, before any run.
ScalingOptions parseScalingArgs(const std::vector<std::string>& args, bool predict);

// The usage text of both subcommands.
std::string scalingUsage();

}  // namespace trainrun::bench
