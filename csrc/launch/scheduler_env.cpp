// detectScheduler: one reader per scheduler, then a check that at most one spoke.
#include "launch/scheduler_env.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "core/env.h"
#include "core/error.h"
#include "launch/cli.h"

namespace trainrun::launch {
namespace {

using Env = std::function<std::string(const std::string&)>;

// A whole non-negative integer from variable `name`, or `fallback` when unset.
long envNumber(const Env& env, const std::string& name, long lo, long hi, long fallback) {
  const std::string text = env(name);
  if (text.empty()) return fallback;
  errno = 0;
  char* end = nullptr;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi)
    throw ConfigError(name + "='" + text + "' is not a whole number from " + std::to_string(lo) +
                      " to " + std::to_string(hi) + "; fix the job definition that sets it");
  return v;
}

constexpr long kMaxNodes = 1 << 20;

SchedulerJob sagemaker(const Env& env, const std::string& root) {
  SchedulerJob job;
  std::string path = root + "/opt/ml/input/config/resourceconfig.json";
  nlohmann::json j;
  std::ifstream in(path);
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  }
  // The sagemaker-training toolkit's variables win over the file, as the toolkit's own do.
  const std::string sm_hosts = env(env::kSmHosts), sm_current = env(env::kSmCurrentHost);
  if (!sm_hosts.empty() && !sm_current.empty()) {
    nlohmann::json hosts = nlohmann::json::parse(sm_hosts, nullptr, false);
    if (hosts.is_discarded() || !hosts.is_array())
      throw ConfigError(std::string(env::kSmHosts) + "='" + sm_hosts +
                        "' is not a JSON list of host names");
    if (j.is_discarded() || !j.is_object()) j = nlohmann::json::object();
    j["hosts"] = hosts;
    j["current_host"] = sm_current;
    path = std::string(env::kSmHosts) + " and " + env::kSmCurrentHost;
  } else if (!in) {
    return job;
  }
  if (j.is_discarded() || !j.contains("current_host") || !j["current_host"].is_string() ||
      !j.contains("hosts") || !j["hosts"].is_array() || j["hosts"].empty())
    throw ConfigError(path +
                      " is not SageMaker's resource config (needs \"current_host\" and "
                      "a non-empty \"hosts\" list)");
  std::vector<std::string> hosts;
  for (const auto& h : j["hosts"]) {
    if (!h.is_string()) throw ConfigError(path + ": every entry of \"hosts\" must be a string");
    hosts.push_back(h.get<std::string>());
  }
  std::sort(hosts.begin(), hosts.end());
  const std::string current = j["current_host"].get<std::string>();
  auto it = std::find(hosts.begin(), hosts.end(), current);
  if (it == hosts.end())
    throw ConfigError(path + ": current_host \"" + current + "\" is not in \"hosts\"");
  job.scheduler = "sagemaker";
  job.nnodes = static_cast<int>(hosts.size());
  job.node_rank = static_cast<int>(it - hosts.begin());
  job.master_addr = hosts.front();
  job.master_from = path;
  if (j.contains("network_interface_name") && j["network_interface_name"].is_string())
    job.interface = j["network_interface_name"].get<std::string>();
  job.job_id = env("TRAINING_JOB_NAME");
  // The toolkit's GPU count (0 on CPU instances: the default of one rank). The platform alone
  // (an image without the toolkit) does not set it: one rank per GPU of the host, as
  // --nproc-per-node gpu counts them, else one (--nproc-per-node auto).
  if (!env(env::kSmNumGpus).empty())
    job.nproc_per_node = static_cast<int>(envNumber(env, env::kSmNumGpus, 0, 4096, 0));
  else
    job.nproc_per_node = visibleGpuCount(env, root);
  return job;
}

SchedulerJob awsBatch(const Env& env) {
  SchedulerJob job;
  if (env("AWS_BATCH_JOB_NUM_NODES").empty()) return job;
  job.scheduler = "aws-batch";
  job.nnodes = static_cast<int>(envNumber(env, "AWS_BATCH_JOB_NUM_NODES", 1, kMaxNodes, 1));
  const long index = envNumber(env, "AWS_BATCH_JOB_NODE_INDEX", 0, job.nnodes - 1, -1);
  const long main = envNumber(env, "AWS_BATCH_JOB_MAIN_NODE_INDEX", 0, job.nnodes - 1, 0);
  if (index < 0)
    throw ConfigError("AWS_BATCH_JOB_NUM_NODES is set but AWS_BATCH_JOB_NODE_INDEX is not");
  // The main node is node 0, so the rendezvous lives where Batch says the main node is.
  job.node_rank = static_cast<int>((index - main + job.nnodes) % job.nnodes);
  // Batch leaves the main node's own address out of the main node's environment.
  job.master_addr = env("AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS");
  job.master_from = "AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS";
  if (job.master_addr.empty() && job.node_rank != 0)
    throw ConfigError(
        "AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS is unset on a node that is not the main "
        "node; run trainrun as a multi-node parallel job, or give --rdzv-endpoint");
  const std::string id = env("AWS_BATCH_JOB_ID");
  job.job_id = id.substr(0, id.find('#'));  // "<job id>#<node index>" on each node
  // A retried job keeps its id: each attempt is a run of its own (an etcd rendezvous keeps the
  // last attempt's keys under the old run id).
  const long attempt = envNumber(env, "AWS_BATCH_JOB_ATTEMPT", 1, kMaxNodes, 1);
  if (attempt > 1) job.job_id += "-attempt" + std::to_string(attempt);
  return job;
}

SchedulerJob kubeflow(const Env& env) {
  SchedulerJob job;
  if (!env("PET_NNODES").empty()) {  // the torchrun-style PyTorchJob (elastic policy)
    job.scheduler = "kubeflow";
    job.nnodes = static_cast<int>(envNumber(env, "PET_NNODES", 1, kMaxNodes, 1));
    job.node_rank = static_cast<int>(envNumber(env, "PET_NODE_RANK", 0, job.nnodes - 1, -1));
    // training-operator 1.7+ gives the plain MASTER_ADDR/MASTER_PORT beside PET_NNODES;
    // torchrun's own PET_MASTER_* win when a job sets them too.
    const bool pet = !env("PET_MASTER_ADDR").empty();
    job.master_addr = env(pet ? "PET_MASTER_ADDR" : "MASTER_ADDR");
    job.master_from = job.master_addr.empty() ? "" : pet ? "PET_MASTER_ADDR" : "MASTER_ADDR";
    const char* port = !env("PET_MASTER_PORT").empty() ? "PET_MASTER_PORT" : "MASTER_PORT";
    job.master_port = static_cast<uint16_t>(envNumber(env, port, 1, 65535, 0));
    const std::string nproc = env("PET_NPROC_PER_NODE");
    if (!nproc.empty() && nproc.find_first_not_of("0123456789") == std::string::npos)
      job.nproc_per_node = static_cast<int>(envNumber(env, "PET_NPROC_PER_NODE", 1, 4096, 0));
    return job;
  }
  // The classic PyTorchJob: one pod per node, told the pod count and its index.
  if (!env("MASTER_ADDR").empty() && !env("WORLD_SIZE").empty() && !env("RANK").empty() &&
      env("LOCAL_RANK").empty()) {
    job.scheduler = "kubeflow";
    job.nnodes = static_cast<int>(envNumber(env, "WORLD_SIZE", 1, kMaxNodes, 1));
    job.node_rank = static_cast<int>(envNumber(env, "RANK", 0, job.nnodes - 1, 0));
    job.master_addr = env("MASTER_ADDR");
    job.master_from = "MASTER_ADDR";
    job.master_port = static_cast<uint16_t>(envNumber(env, "MASTER_PORT", 1, 65535, 0));
  }
  return job;
}

SchedulerJob slurm(const Env& env) {
  SchedulerJob job;
  if (env("SLURM_NNODES").empty() || env("SLURM_JOB_NODELIST").empty()) return job;
  job.scheduler = "slurm";
  job.nnodes = static_cast<int>(envNumber(env, "SLURM_NNODES", 1, kMaxNodes, 1));
  job.node_rank = static_cast<int>(envNumber(env, "SLURM_NODEID", 0, job.nnodes - 1, -1));
  if (job.node_rank < 0) throw ConfigError("SLURM_NNODES is set but SLURM_NODEID is not");
  job.master_addr = firstSlurmHost(env("SLURM_JOB_NODELIST"));
  job.master_from = "SLURM_JOB_NODELIST";
  job.job_id = env("SLURM_JOB_ID");
  // A requeued job keeps its id: each restart is a run of its own, as Batch's attempts are.
  const long restarts = envNumber(env, "SLURM_RESTART_COUNT", 0, kMaxNodes, 0);
  if (restarts > 0) job.job_id += "-restart" + std::to_string(restarts);
  return job;
}

}  // namespace

std::string firstSlurmHost(const std::string& nodelist) {
  // The first entry ends at a comma outside brackets: "a[1-3,5],b" -> "a[1-3,5]".
  size_t end = 0;
  int depth = 0;
  for (; end < nodelist.size(); ++end) {
    if (nodelist[end] == '[') ++depth;
    if (nodelist[end] == ']') --depth;
    if (nodelist[end] == ',' && depth == 0) break;
  }
  const std::string first = nodelist.substr(0, end);
  const size_t open = first.find('[');
  if (open == std::string::npos) return first;
  const size_t close = first.find(']', open);
  if (close == std::string::npos || open == 0)
    throw ConfigError("SLURM_JOB_NODELIST='" + nodelist + "' is not a Slurm host list");
  // First range's first number, zero padding kept: "gpu[03-05]" -> "gpu03".
  std::string range = first.substr(open + 1, close - open - 1);
  range = range.substr(0, range.find_first_of(",-"));
  if (range.empty() || range.find_first_not_of("0123456789") != std::string::npos)
    throw ConfigError("SLURM_JOB_NODELIST='" + nodelist + "' is not a Slurm host list");
  return first.substr(0, open) + range + first.substr(close + 1);
}

SchedulerJob detectScheduler(const Env& env, const std::string& root) {
  std::vector<SchedulerJob> found;
  for (SchedulerJob job : {sagemaker(env, root), awsBatch(env), kubeflow(env), slurm(env)})
    if (!job.scheduler.empty()) found.push_back(job);
  if (found.empty()) return {};
  for (size_t i = 1; i < found.size(); ++i) {
    if (found[i].nnodes != found[0].nnodes || found[i].node_rank != found[0].node_rank)
      throw ConfigError(found[0].scheduler + " (" + describe(found[0]) + ") and " +
                        found[i].scheduler + " (" + describe(found[i]) +
                        ") describe different jobs; unset one's variables or give --nnodes and "
                        "--node-rank explicitly");
  }
  return found[0];
}

std::string describe(const SchedulerJob& job) {
  std::string s = job.scheduler + ": node " + std::to_string(job.node_rank) + " of " +
                  std::to_string(job.nnodes);
  s += ", master " + (job.master_addr.empty() ? std::string("this node") : job.master_addr);
  return s;
}

}  // namespace trainrun::launch
