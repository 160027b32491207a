// Joins the job described by torchrun's environment variables.
#include "distributed/init.h"

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/clock.h"
#include "core/env.h"
#include "core/error.h"
#include "core/logging.h"
#include "distributed/gloo/gloo_communicator.h"
#include "distributed/hierarchical/hierarchical_communicator.h"
#include "distributed/nccl/nccl_communicator.h"
#include "distributed/shm/shm_communicator.h"
#include "distributed/solo/solo_communicator.h"
#include "store/store_keys.h"

namespace trainrun {
namespace {

// Median seconds of one all-reduce of `bytes` on `comm`, after two warm-ups.
double allreduceSeconds(Communicator& comm, int64_t bytes) {
  std::vector<torch::Tensor> t{torch::ones({std::max<int64_t>(1, bytes / 4)})};  // (bytes/4,)
  for (int i = 0; i < 2; ++i) comm.allreduce(t, ReduceOp::kSum)->wait();
  std::vector<double> seconds;
  for (int i = 0; i < 5; ++i) {
    const Clock::time_point start = Clock::now();
    comm.allreduce(t, ReduceOp::kSum)->wait();
    seconds.push_back(secondsSince(start));
  }
  std::nth_element(seconds.begin(), seconds.begin() + 2, seconds.end());
  return seconds[2];
}

// dist.backend: auto across several nodes with several ranks each: flat Gloo or hierarchical
// (shm within the node, Gloo among leaders), whichever all-reduces a bucket faster here. Both
// are built and timed; every rank takes the same decision from the slowest rank's timings.
// The choice is kept for the job: a later generation of the same shape (elastic recovery, a
// replaced rank) reduces in the same order, so its trajectory stays the uninterrupted one's.
std::unique_ptr<Communicator> fasterOfGlooAndHierarchical(DistContext& ctx,
                                                          std::unique_ptr<Communicator> flat,
                                                          std::unique_ptr<Communicator> hier,
                                                          int64_t bytes) {
  const int local_size = std::max(ctx.local_world_size, 1);
  const std::string key = autoBackendKey(ctx.world_size / local_size, local_size);
  // 1 hierarchical, 0 gloo, -1 not chosen yet; every rank must see a choice to reuse it.
  const int64_t seen = ctx.store->check({key}) ? (ctx.store->get(key) == "hierarchical") : -1;
  std::vector<torch::Tensor> kept{torch::tensor({seen, -seen}, torch::kInt64)};  // (2,)
  flat->allreduce(kept, ReduceOp::kMax)->wait();
  if (seen >= 0 && kept[0][0].item<int64_t>() == seen && -kept[0][1].item<int64_t>() == seen)
    return seen == 1 ? std::move(hier) : std::move(flat);
  const double hier_s = allreduceSeconds(*hier, bytes);
  const double flat_s = allreduceSeconds(*flat, bytes);
  std::vector<torch::Tensor> times{torch::tensor({hier_s, flat_s}, torch::kFloat64)};  // (2,)
  flat->allreduce(times, ReduceOp::kMax)->wait();
  const double h = times[0][0].item<double>(), g = times[0][1].item<double>();
  const bool use_hier = h < g;
  if (ctx.rank == 0) {
    char line[200];
    std::snprintf(line, sizeof(line),
                  "dist_backend_auto=%s hierarchical_ms=%.3f gloo_ms=%.3f probe_bytes=%lld",
                  use_hier ? "hierarchical" : "gloo", h * 1e3, g * 1e3,
                  static_cast<long long>(bytes));
    log::out(line);
    ctx.store->set(key, use_hier ? "hierarchical" : "gloo");
  }
  return use_hier ? std::move(hier) : std::move(flat);
}

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

// This rank's communicator of the backend dist.backend picks; `prefix` keeps its store keys
// apart from other groups'.
std::unique_ptr<Communicator> makeCommunicator(DistContext& ctx, const config::JobConfig& config,
                                               const std::string& prefix) {
  const bool gpu = ctx.device.is_cuda();
  std::unique_ptr<Communicator> comm;
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
    comm = makeNcclCommunicator(*ctx.store, prefix + "nccl/", ctx.rank, ctx.world_size, nccl);
    return comm;
  }
  // Ranks that share a host (and GPU-less) reduce through shared memory: no sockets.
  const bool one_host = ctx.local_world_size == ctx.world_size;
  if (backend == "shm" && !one_host)
    throw ConfigError("dist.backend: shm needs every rank on one host (LOCAL_WORLD_SIZE=" +
                      std::to_string(ctx.local_world_size) + ", WORLD_SIZE=" +
                      std::to_string(ctx.world_size) + "); use dist.backend: gloo or auto");
  if (backend == "shm" || (backend == "auto" && one_host && !gpu)) {
    comm = makeShmCommunicator(*ctx.store, prefix + "shm/", ctx.rank, ctx.world_size);
    return comm;
  }
  GlooOptions gloo;
  gloo.interface = env::get(env::kGlooSocketIfname);
  // All ranks on one node talk over loopback; across nodes, bind the address the launcher
  // says the other nodes reach this one at, else the hostname's.
  if (!one_host) gloo.hostname = env::get(env::kLocalAddr);
  const int local_size = std::max(ctx.local_world_size, 1);
  auto makeHierarchical = [&] {
    // Shared memory within each node, Gloo among the nodes' local rank 0.
    HierarchicalOptions hier;
    hier.gloo = gloo;
    return makeHierarchicalCommunicator(*ctx.store, prefix + "hierarchical/", ctx.rank,
                                        ctx.world_size, ctx.local_rank, local_size,
                                        ctx.rank / local_size, ctx.world_size / local_size, hier);
  };
  if (backend == "hierarchical") {
    comm = makeHierarchical();
    return comm;
  }
  comm = makeGlooCommunicator(*ctx.store, prefix + "gloo/", ctx.rank, ctx.world_size, gloo);
  if (backend == "auto" && !one_host && local_size > 1) {
    // Probe with a bucket as the Reducer sends it, at most 4 MiB so start-up stays short.
    const auto bytes =
        static_cast<int64_t>(std::min(config.dist().bucket_cap_mb(), 4.0) * double(1 << 20));
    comm = fasterOfGlooAndHierarchical(ctx, std::move(comm), makeHierarchical(), bytes);
  }
  return comm;
}

void allreduceSum(DistContext& dist, torch::Tensor& values) {
  std::vector<torch::Tensor> t{values.to(dist.comm->device())};
  dist.comm->allreduce(t, ReduceOp::kSum)->wait();
  values.copy_(t[0]);
}

// Joins the newest generation and has the watcher guard its communicator.
std::unique_ptr<Communicator> joinGeneration(DistContext& ctx) {
  auto comm = ctx.elastic->join(*ctx.store, [&ctx](const std::string& prefix) {
    ctx.rank = ctx.elastic->rank();  // this generation's place, before the backend uses it
    ctx.world_size = ctx.elastic->worldSize();
    return ctx.make_comm(ctx, prefix);
  });
  ctx.elastic->watch(comm.get());
  return comm;
}

DistContext initDistributed(const config::JobConfig& config) {
  DistContext ctx;
  ctx.timeout = config::groupTimeout(config);
  ctx.world_size = envInt(env::kWorldSize, 1);
  ctx.rank = envInt(env::kRank, 0);
  ctx.local_rank = envInt(env::kLocalRank, ctx.rank);
  ctx.local_world_size = envInt(env::kLocalWorldSize, ctx.world_size);
  const bool elastic = env::get(env::kElastic) == "1";  // ranks may change per generation
  if (!elastic && (ctx.world_size < 1 || ctx.rank < 0 || ctx.rank >= ctx.world_size))
    throw ConfigError("RANK=" + std::to_string(ctx.rank) +
                      " and WORLD_SIZE=" + std::to_string(ctx.world_size) + " are inconsistent");
  const bool gpu = torch::cuda::is_available();
  if (gpu) {
    const int index = cudaDeviceForRank(ctx.local_rank, int(torch::cuda::device_count()));
    ctx.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
    // Current for the whole process, so no CUDA call makes a context on another GPU.
    c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->setDevice(ctx.device);
  }
  if (ctx.world_size == 1 && !elastic) {
    ctx.comm = makeSoloCommunicator(ctx.device, ctx.timeout);
    return ctx;
  }
  const int restart = envInt(env::kRestartCount, 0);

  const std::string addr = env::get(env::kMasterAddr);
  const int port = envInt(env::kMasterPort, 0);
  if (addr.empty() || port <= 0)
    throw ConfigError(
        "WORLD_SIZE > 1 needs MASTER_ADDR and MASTER_PORT (start ranks with trainrun)");
  // The store carries the deadline to the communicators built on it. The launcher says which
  // protocol MASTER_ADDR:MASTER_PORT speaks (TRAINRUN_STORE_BACKEND=etcd; else a TCPStore).
  const StoreBackend backend = parseStoreBackend(env::get(env::kStoreBackend));
  ctx.store = Store::connect(backend, addr, static_cast<uint16_t>(port), ctx.timeout,
                             env::get(env::kStorePrefix));

  // Keys unique per restart of the job and per generation: a rank never reads an earlier
  // attempt's keys (e.g. NCCL's unique id).
  ctx.make_comm = [config, restart](DistContext& self, const std::string& generation) {
    return makeCommunicator(self, config, communicatorPrefix(restart, generation));
  };
  if (elastic) {
    ctx.elastic = std::make_unique<ElasticGroup>(
        Store::connect(backend, addr, static_cast<uint16_t>(port), ctx.timeout,
                       env::get(env::kStorePrefix)),
        ctx.rank, ctx.world_size, envInt(env::kGroupRank, 0), ctx.local_rank);
    ctx.comm = joinGeneration(ctx);
  } else {
    ctx.comm = ctx.make_comm(ctx, "");
  }
  return ctx;
}

void rejoinGroup(DistContext& ctx, const std::string& why) {
  ctx.elastic->watch(nullptr);
  ctx.elastic->leave(*ctx.store, why);
  {
    std::lock_guard<std::mutex> lock(*ctx.comm_mu);
    ctx.comm.reset();  // sockets close, shared memory is marked failed: peers fail at once
  }
  std::unique_ptr<Communicator> comm = joinGeneration(ctx);
  std::lock_guard<std::mutex> lock(*ctx.comm_mu);
  ctx.comm = std::move(comm);
}

}  // namespace trainrun