// What each local rank runs: its command line and torchrun's per-rank environment.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "launch/cli.h"

namespace trainrun::launch {

// One local rank's process: what the agent spawns.
struct RankSpec {
  int rank = 0;        // global rank; names the rank in output prefixes and the summary
  int local_rank = 0;  // on this node; names its log folder (--log-dir)
  std::vector<std::string> argv;
  std::vector<std::string> env;  // the complete environment, "KEY=VALUE"
};

// Where ranks find the rendezvous store.
struct Endpoint {
  std::string addr;
  uint16_t port = 0;
};

// The built-in worker: $TRAINRUN_WORKER, else trainrun-worker next to this executable.
std::string workerBinary();
// The executable `name` in the launcher's own folder (trainrun-bench).
std::string besideLauncher(const std::string& name);

// OMP_NUM_THREADS for a rank when the user set none: usable cores / ranks, at least 1.
int defaultOmpThreads(int nproc_per_node);

// Sets KEY=value in `env` ("KEY=VALUE" entries), replacing an inherited KEY.
void setVar(std::vector<std::string>& env, const std::string& key, const std::string& value);

// One spec per local rank: global rank = node rank (opts.node_rank, resolved; -1 counts as 0)
// * nproc_per_node + local rank. `base_env` is the launcher's environment ("KEY=VALUE"); rank
// variables (torchrun's set: RANK ... TORCHELASTIC_RUN_ID) replace any inherited ones.
std::vector<RankSpec> makeRankSpecs(const LaunchOptions& opts, const Endpoint& store,
                                    const std::vector<std::string>& base_env);

}  // namespace trainrun::launch
