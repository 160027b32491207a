// The job's node layout as a scheduler describes it: SageMaker, AWS Batch, Kubeflow, Slurm.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace trainrun::launch {

// What a scheduler's environment says about this node. Fields a scheduler does not give keep
// their "unset" values; explicit flags fill or override them.
struct SchedulerJob {
  std::string scheduler;     // "sagemaker", "aws-batch", "kubeflow", "slurm"; "" none found
  int nnodes = 0;            // 0: unset
  int node_rank = -1;        // -1: unset
  std::string master_addr;   // node 0's host name or address; "" unset (or: this node is it)
  std::string master_from;   // where master_addr came from, for errors: "MASTER_ADDR", ...
  uint16_t master_port = 0;  // 0: unset
  int nproc_per_node = 0;    // 0: unset
  std::string interface;     // network interface for Gloo/NCCL sockets; "" unset
  // The scheduler's job id (run id and derived token), with "-attempt<N>" / "-restart<N>" for
  // a Batch job's retry or a requeued Slurm job; "" unset.
  std::string job_id;
};

// Reads `env` (a variable's value, "" when unset) and, for SageMaker,
// <root>/opt/ml/input/config/resourceconfig.json and, without SM_NUM_GPUS (the toolkit's, not
// the platform's), the host's GPUs as --nproc-per-node gpu counts them (<root>/dev/nvidiaN;
// root "" is the real filesystem; tests give a fake tree). At most one scheduler may describe the
// job: two that disagree are a ConfigError naming both. Malformed values are a ConfigError naming
// the variable or file.
SchedulerJob detectScheduler(const std::function<std::string(const std::string&)>& env,
                             const std::string& root);

// The first host of Slurm's compressed node list: "gpu[03-05,9],cpu1" -> "gpu03".
std::string firstSlurmHost(const std::string& nodelist);

// "sagemaker: node 1 of 4, master algo-1" for the start-up line.
std::string describe(const SchedulerJob& job);

}  // namespace trainrun::launch
