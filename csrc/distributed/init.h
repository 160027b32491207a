// Joining the job: read torchrun's environment, connect to the store, build the Communicator.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "config/config.h"
#include "distributed/communicator.h"
#include "distributed/elastic.h"
#include "store/store.h"

namespace trainrun {

struct DistContext {
  // The group's one deadline (dist.timeout_s): the store and every communicator hold it, and
  // every wait in the runtime is bounded by it.
  std::chrono::milliseconds timeout{0};
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  // Where this rank computes: cuda:<cudaDeviceForRank(...)> when LibTorch sees a GPU (already
  // made the current device), else the CPU. Resolved once here; everything else is passed it.
  torch::Device device{torch::kCPU};
  std::unique_ptr<Store> store;  // null when running alone
  // Always set once joined (a rank alone has the world-of-one backend, solo/), except while an
  // elastic group re-forms (rejoinGroup): null then, which hang dumps report as `regrouping`.
  std::unique_ptr<Communicator> comm;
  // Held while `comm` is replaced (rejoinGroup) and by any thread but the training thread that
  // reads it (the hang-dump thread), which so never sees a communicator being destroyed.
  std::shared_ptr<std::mutex> comm_mu = std::make_shared<std::mutex>();
  // Elastic jobs (the launcher sets TRAINRUN_ELASTIC): this rank's membership, and how to
  // build the communicator of each generation. Null otherwise.
  std::unique_ptr<ElasticGroup> elastic;
  std::function<std::unique_ptr<Communicator>(DistContext&, const std::string& prefix)> make_comm;
};

// From RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT; without
// them the process runs alone (world size 1, the world-of-one communicator, no store).
// dist.backend picks the communicator of a larger world.
DistContext initDistributed(const config::JobConfig& config);

// Sums `values` across the group's ranks in place (one small collective on the communicator's
// device).
void allreduceSum(DistContext& dist, torch::Tensor& values);

// This rank's communicator of the backend config.dist.backend names, on ctx's store under
// `prefix` (keys apart from other groups'); `ctx` must be joined (initDistributed). The
// benchmark builds one per backend this way.
std::unique_ptr<Communicator> makeCommunicator(DistContext& ctx, const config::JobConfig& config,
                                               const std::string& prefix);

// Elastic jobs: the current generation ended (`why`: this rank's collective failed, or the
// watcher saw the counter move). Leaves it (moving the counter on if nobody has), destroys the
// communicator (its peers' collectives fail at once) and joins the next generation.
void rejoinGroup(DistContext& ctx, const std::string& why);

// The GPU ordinal of a rank among `visible` GPUs: 0 when the scheduler shows each process one
// GPU (Slurm, Kubernetes, CUDA_VISIBLE_DEVICES per rank), else LOCAL_RANK. Throws ConfigError
// when LOCAL_RANK has no GPU of its own. -1 when none is visible.
int cudaDeviceForRank(int local_rank, int visible);

// True if this build has the NCCL backend (dist/nccl/ defines both).
bool ncclAvailable();
// NCCL's version ("2.27.3"); "" in builds without NCCL.
std::string ncclVersion();

}  // namespace trainrun
