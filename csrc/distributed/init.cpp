// Joins the job described by torchrun's environment variables.
#include "distributed/init.h"

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/env.h"
#include "core/error.h"
#include "distributed/gloo/gloo_communicator.h"
#include "distributed/hierarchical/hierarchical_communicator.h"
#include "distributed/nccl/nccl_communicator.h"
#include "distributed/shm/shm_communicator.h"

namespace trainrun {
namespace {

// A non-negative int from the environment, `fallback` when unset.
int envInt(const char* name, int fallback) {
  return static_cast<int>(env::integer(name, 0, INT32_MAX).value_or(fallback));
}

}  // namespace

int cudaDeviceForRank(int local_rank, int visible) {
  if (visible <= 0) return -1;
  if (visible == 1) return 0;
  if (local_rank < visible) return local_rank;
  throw ConfigError("LOCAL_RANK=" + std::to_string(local_rank) + " but only " +
                    std::to_string(visible) +
                    " GPUs are visible; run at most that many ranks per node "
                    "(--nproc-per-node) or show each rank one GPU (CUDA_VISIBLE_DEVICES)");
}

std::string storePrefix(const std::string& backend, int restart_count) {
  return backend + "/restart-" + std::to_string(restart_count) + "/";
}

DistContext initDistributed(const config::JobConfig& config) {
  DistContext ctx;
  ctx.timeout = config::groupTimeout(config);
  ctx.world_size = envInt(env::kWorldSize, 1);
  ctx.rank = envInt(env::kRank, 0);
  ctx.local_rank = envInt(env::kLocalRank, ctx.rank);
  ctx.local_world_size = envInt(env::kLocalWorldSize, ctx.world_size);
  if (ctx.world_size < 1 || ctx.rank < 0 || ctx.rank >= ctx.world_size)
    throw ConfigError("RANK=" + std::to_string(ctx.rank) +
                      " and WORLD_SIZE=" + std::to_string(ctx.world_size) + " are inconsistent");
  const bool gpu = torch::cuda::is_available();
  if (gpu) {
    const int index = cudaDeviceForRank(ctx.local_rank, int(torch::cuda::device_count()));
    ctx.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
    // Current for the whole process, so no CUDA call makes a context on another GPU.
    c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->setDevice(ctx.device);
  }
  if (ctx.world_size == 1) return ctx;
  const int restart = envInt(env::kRestartCount, 0);

  const std::string addr = env::get(env::kMasterAddr);
  const int port = envInt(env::kMasterPort, 0);
  if (addr.empty() || port <= 0)
    throw ConfigError(
        "WORLD_SIZE > 1 needs MASTER_ADDR and MASTER_PORT (start ranks with trainrun)");
  // The store carries the deadline to the communicators built on it.
  ctx.store =
      Store::connect(addr, static_cast<uint16_t>(port), ctx.timeout, env::get(env::kStorePrefix));

  // auto: NCCL when LibTorch can put tensors on a GPU (and NCCL is built in), else shared
  // memory on one host, else Gloo.
  const std::string& backend = config.dist().backend();
  if (backend == "auto" && gpu && !ncclAvailable())
    throw ConfigError(
        "a GPU is visible but this build has no NCCL backend (rebuild with "
        "TRAINRUN_WITH_CUDA=ON), or choose dist.backend: gloo explicitly");
  if (backend == "nccl" && !(gpu && ncclAvailable()))
    throw ConfigError(
        std::string("dist.backend: nccl needs ") +
        (ncclAvailable() ? "a CUDA device visible to LibTorch" : "a build with CUDA and NCCL") +
        " (use dist.backend: gloo or auto)");
  if (backend == "nccl" || (backend == "auto" && gpu && ncclAvailable())) {
    NcclOptions nccl;
    nccl.device = ctx.device.index();
    ctx.comm = makeNcclCommunicator(*ctx.store, storePrefix("nccl", restart), ctx.rank,
                                    ctx.world_size, nccl);
    return ctx;
  }
  // Ranks that share a host (and GPU-less) reduce through shared memory: no sockets.
  const bool one_host = ctx.local_world_size == ctx.world_size;
  if (backend == "shm" && !one_host)
    throw ConfigError("dist.backend: shm needs every rank on one host (LOCAL_WORLD_SIZE=" +
                      std::to_string(ctx.local_world_size) + ", WORLD_SIZE=" +
                      std::to_string(ctx.world_size) + "); use dist.backend: gloo or auto");
  if (backend == "shm" || (backend == "auto" && one_host && !gpu)) {
    ctx.comm =
        makeShmCommunicator(*ctx.store, storePrefix("shm", restart), ctx.rank, ctx.world_size);
    return ctx;
  }
  GlooOptions gloo;
  gloo.interface = env::get(env::kGlooSocketIfname);
  // All ranks on one node talk over loopback; across nodes, bind the address the launcher
  // says the other nodes reach this one at, else the hostname's.
  if (!one_host) gloo.hostname = env::get(env::kLocalAddr);
  if (backend == "hierarchical") {
    // Shared memory within each node, Gloo among the nodes' local rank 0.
    const int local_size = std::max(ctx.local_world_size, 1);
    const int nnodes = ctx.world_size / local_size;
    HierarchicalOptions hier;
    hier.gloo = gloo;
    ctx.comm = makeHierarchicalCommunicator(
        *ctx.store, storePrefix("hierarchical", restart), ctx.rank, ctx.world_size, ctx.local_rank,
        local_size, envInt(env::kGroupRank, ctx.rank / local_size), nnodes, hier);
    return ctx;
  }
  ctx.comm = makeGlooCommunicator(*ctx.store, storePrefix("gloo", restart), ctx.rank,
                                  ctx.world_size, gloo);
  return ctx;
}

}  // namespace trainrun
