// The launcher's command line: flags, CONFIG or `-- COMMAND`, parsed into LaunchOptions.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "launch/rank_logs.h"

namespace trainrun::launch {

inline constexpr int kDefaultNprocPerNode = 1;
inline constexpr const char* kDefaultMasterAddr = "127.0.0.1";
inline constexpr uint16_t kDefaultMasterPort = 29500;
// SageMaker kills 120 s after its SIGTERM; time for an emergency checkpoint (Batch and
// Kubernetes default to 30 s: users raise theirs, or lower this to fit).
inline constexpr std::chrono::milliseconds kDefaultGracePeriod{std::chrono::seconds(120)};
// How long nodes wait for each other at the rendezvous (torchrun's join_timeout).
inline constexpr std::chrono::milliseconds kDefaultRdzvTimeout{std::chrono::seconds(600)};

// CONFIG `train` (with no file of that name here) runs SageMaker's job: `docker run IMAGE train`.
inline constexpr const char* kSageMakerCommand = "train";

// What to launch and how. Exactly one of config_path / command is set unless help is.
struct LaunchOptions {
  int nproc_per_node = kDefaultNprocPerNode;
  int nnodes = 1;      // --nnodes N, or MAX of --nnodes MIN:MAX
  int min_nnodes = 1;  // MIN of --nnodes MIN:MAX (elastic nodes); N otherwise
  int node_rank = -1;  // -1: assigned at the rendezvous in order of arrival
  std::string master_addr = kDefaultMasterAddr;
  uint16_t master_port = kDefaultMasterPort;
  // torchrun's names: static (master addr/port), c10d (both: node 0 hosts a TCPStore), etcd.
  std::string rdzv_backend = "static";
  std::string rdzv_endpoint;     // HOST[:PORT] of node 0's store or etcd; "": master addr:port
  std::string rdzv_id = "none";  // the run id: nodes of one job share it
  std::chrono::milliseconds rdzv_timeout = kDefaultRdzvTimeout;  // --rdzv-conf timeout=S
  // --nnodes MIN:MAX: once MIN nodes are in, how long node 0 waits for more before starting
  // (--rdzv-conf last_call_timeout=S, torchrun's name).
  std::chrono::milliseconds rdzv_last_call{std::chrono::seconds(30)};
  // TLS to etcd (--rdzv-conf protocol, ca_cert, ssl_cert, ssl_cert_key, torchrun's names): the
  // variables (TRAINRUN_ETCD_PROTOCOL, ...) the launcher exports for itself and its ranks.
  std::vector<std::pair<std::string, std::string>> etcd_tls_env;
  std::string local_addr;   // this node's address for peers (and Gloo); "": detected
  bool standalone = false;  // --standalone: one node, a private store on a free port
  // Ranks this node may restart after failures (torchrun's --max-restarts). With > 0 and a
  // CONFIG, the job is elastic: a failed rank is respawned and the others keep their state.
  int max_restarts = 0;
  // How often the agent looks at its ranks (torchrun's --monitor-interval).
  std::chrono::milliseconds monitor_interval{100};
  // Time between SIGTERM and SIGKILL when stopping ranks.
  std::chrono::milliseconds grace_period = kDefaultGracePeriod;
  // --log-dir, --redirects, --tee, --local-ranks-filter (torchrun's): rank output to files.
  RankLogOptions logs;
  std::string config_path;             // CONFIG: run the built-in worker on this job config
  std::vector<std::string> overrides;  // --set key=value, in order (CONFIG runs only)
  std::vector<std::string> command;    // -- COMMAND ARGS...: run this as each rank's worker
  // torchrun's SCRIPT.py ARGS (python3 -u SCRIPT.py ARGS; $PYTHON_EXEC for another python),
  // -m MODULE ARGS and --no-python PROGRAM ARGS: `command` built from them.
  bool script_form = false;
  bool module = false;     // -m/--module
  bool no_python = false;  // --no-python
  bool help = false;       // --help: print usageText() and exit 0
  // Flags the user set (on the command line or through PET_*), canonical spelling
  // ("--node-rank"): they win over what a scheduler's environment says.
  std::set<std::string> given;
};

// Parses the arguments after argv[0]. Accepts `--flag value`, `--flag=value`, torchrun's
// underscore spellings (--nproc_per_node) and `--nodes` for --nnodes; a flag not on the
// command line takes torchrun's PET_<FLAG> variable from `env` when set (PET_NNODES,
// PET_NODE_RANK, ...). Throws ConfigError with one line naming the flag and the fix (and the
// closest known flag for a typo).
LaunchOptions parseCommandLine(const std::vector<std::string>& args,
                               const std::function<std::string(const std::string&)>& env);
LaunchOptions parseCommandLine(const std::vector<std::string>& args);  // the process environment

// GPUs this process may use without loading CUDA: CUDA_VISIBLE_DEVICES's entries when set,
// else the <root>/dev/nvidiaN device files (root "": the real ones; tests give a fake tree).
int visibleGpuCount(const std::function<std::string(const std::string&)>& env,
                    const std::string& root = "");

// The --help text, ending in a newline.
std::string usageText();
// `trainrun train --help`: SageMaker's entry point and the flags that matter there.
std::string trainUsage();
// The help for the command `args` names (train, bench allreduce; else usageText()).
std::string helpText(const std::vector<std::string>& args);
// True if `a` or `b` is among args before "--" (e.g. -h/--help, --version anywhere).
bool wantsFlag(const std::vector<std::string>& args, const std::string& a, const std::string& b);

}  // namespace trainrun::launch
