// Building rank command lines and environments (torchrun's contract, see core/env.h).
#include "launch/worker_spec.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <thread>

#include "core/env.h"
#include "core/error.h"

namespace trainrun::launch {
namespace {

int usableCores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);  // honors cpusets
  return static_cast<int>(std::thread::hardware_concurrency());
}

bool hasVar(const std::vector<std::string>& env, const std::string& key) {
  const std::string prefix = key + "=";
  return std::any_of(env.begin(), env.end(), [&](const std::string& e) {
    return e.compare(0, prefix.size(), prefix) == 0;
  });
}

}  // namespace

std::string besideLauncher(const std::string& name) {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0)
    throw Error("cannot locate the trainrun executable (/proc/self/exe); set " +
                std::string(env::kWorkerBin) + " to the worker binary");
  std::string path(self, static_cast<size_t>(n));
  return path.substr(0, path.rfind('/') + 1) + name;
}

std::string workerBinary() {
  if (std::string over = env::get(env::kWorkerBin); !over.empty()) return over;
  return besideLauncher("trainrun-worker");
}

int defaultOmpThreads(int nproc_per_node) {
  return std::max(1, usableCores() / std::max(1, nproc_per_node));
}

void setVar(std::vector<std::string>& env, const std::string& key, const std::string& value) {
  const std::string prefix = key + "=";
  env.erase(std::remove_if(
                env.begin(), env.end(),
                [&](const std::string& e) { return e.compare(0, prefix.size(), prefix) == 0; }),
            env.end());
  env.push_back(prefix + value);
}

std::vector<RankSpec> makeRankSpecs(const LaunchOptions& opts, const Endpoint& store,
                                    const std::vector<std::string>& base_env) {
  std::vector<std::string> argv = opts.command;
  if (argv.empty()) {
    argv = {workerBinary(), opts.config_path};
    for (const auto& kv : opts.overrides) {
      argv.push_back("--set");
      argv.push_back(kv);
    }
  }
  const int world_size = opts.nnodes * opts.nproc_per_node;
  const int group_rank = std::max(0, opts.node_rank);  // resolved at the rendezvous
  std::vector<RankSpec> specs;
  for (int local = 0; local < opts.nproc_per_node; ++local) {
    RankSpec spec;
    spec.rank = group_rank * opts.nproc_per_node + local;
    spec.local_rank = local;
    spec.argv = argv;
    spec.env = base_env;
    setVar(spec.env, env::kRank, std::to_string(spec.rank));
    setVar(spec.env, env::kLocalRank, std::to_string(local));
    setVar(spec.env, env::kWorldSize, std::to_string(world_size));
    setVar(spec.env, env::kLocalWorldSize, std::to_string(opts.nproc_per_node));
    setVar(spec.env, env::kGroupRank, std::to_string(group_rank));
    setVar(spec.env, env::kNodeRank, std::to_string(group_rank));
    setVar(spec.env, "GROUP_WORLD_SIZE", std::to_string(opts.nnodes));
    setVar(spec.env, "ROLE_RANK", std::to_string(spec.rank));
    setVar(spec.env, "ROLE_WORLD_SIZE", std::to_string(world_size));
    setVar(spec.env, "ROLE_NAME", "default");
    setVar(spec.env, "TORCHELASTIC_RUN_ID", opts.rdzv_id);
    // Across nodes Gloo binds the address the other nodes reach this one at.
    if (!opts.local_addr.empty()) setVar(spec.env, env::kLocalAddr, opts.local_addr);
    setVar(spec.env, env::kMasterAddr, store.addr);
    setVar(spec.env, env::kMasterPort, std::to_string(store.port));
    // PyTorch workers (init_process_group with env://) then join our store, not host one.
    setVar(spec.env, env::kUseAgentStore, "True");
    setVar(spec.env, env::kRestartCount, "0");  // no restarts yet: single attempt per launch
    // Without this every rank would start a thread per core: N ranks x cores threads thrash.
    if (!hasVar(spec.env, env::kOmpNumThreads)) {
      setVar(spec.env, env::kOmpNumThreads, std::to_string(defaultOmpThreads(opts.nproc_per_node)));
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

}  // namespace trainrun::launch
