// trainrun-bench: one rank of `trainrun bench allreduce` (the launcher starts it on every rank).
#include <c10/util/Logging.h>

#include <cstdio>
#include <string>
#include <vector>

#include "bench/allreduce_bench.h"
#include "bench/bench_options.h"
#include "config/config.h"
#include "core/error.h"
#include "core/file.h"
#include "core/logging.h"
#include "distributed/init.h"

namespace {

// Every backend this job's ranks can use: NCCL on GPUs; on CPU, shared memory on one host and
// hierarchical across several, and Gloo always.
std::vector<std::string> defaultBackends(const trainrun::DistContext& ctx) {
  if (ctx.device.is_cuda()) return {"nccl"};
  if (ctx.local_world_size == ctx.world_size) return {"shm", "gloo"};
  return {"hierarchical", "gloo"};
}

int run(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "allreduce")
    throw trainrun::ConfigError(
        "usage: trainrun-bench allreduce [flags] (start it with trainrun "
        "bench allreduce)");
  const auto options =
      trainrun::bench::parseBenchArgs(std::vector<std::string>(args.begin() + 1, args.end()));
  // Gloo first: it works on every job, and carries the other backends' set-up.
  trainrun::config::JobConfig config = trainrun::config::parseJobConfig(
      "", {"dist.backend=gloo", "data.name=synthetic"}, "trainrun bench allreduce");
  trainrun::DistContext ctx = trainrun::initDistributed(config);
  if (ctx.world_size < 2)
    throw trainrun::ConfigError("trainrun bench allreduce needs 2 or more ranks");
  const std::vector<std::string> backends =
      options.backends.empty() ? defaultBackends(ctx) : options.backends;
  const bool lead = ctx.rank == 0;
  const int nodes = ctx.world_size / std::max(1, ctx.local_world_size);
  std::vector<trainrun::bench::AllreduceRow> all;
  for (const std::string& backend : backends) {
    std::unique_ptr<trainrun::Communicator> own;
    trainrun::Communicator* comm = ctx.comm.get();
    if (backend != "gloo") {
      config.mutable_dist()->set_backend(backend);
      own = trainrun::makeCommunicator(ctx, config, "bench-" + backend + "/");
      comm = own.get();
    }
    if (lead)
      std::printf("# backend %s, %d ranks on %d node(s), %d warm-up and %d timed iterations\n",
                  comm->backendName(), ctx.world_size, nodes, options.warmup_iters, options.iters);
    for (const std::string& type : options.dtypes) {
      std::vector<trainrun::bench::AllreduceRow> rows;
      const int64_t elem = trainrun::bench::elementBytes(type);
      for (int64_t bytes = options.min_bytes; bytes <= options.max_bytes;
           bytes *= options.step_factor) {
        if (bytes < elem) continue;  // smaller than one element of this type
        trainrun::bench::AllreduceRun one{bytes, type, options.warmup_iters, options.iters,
                                          options.check};
        rows.push_back(trainrun::bench::timeAllreduce(*comm, one));
        if (lead) {
          const auto lines = trainrun::bench::formatTable(rows);
          if (rows.size() == 1)
            for (size_t i = 0; i + 1 < lines.size(); ++i) std::printf("%s\n", lines[i].c_str());
          std::printf("%s\n", lines.back().c_str());
          std::fflush(stdout);
        }
      }
      double sum = 0;
      int64_t wrong = 0;
      for (const auto& r : rows) {
        sum += r.ip_busbw;
        wrong += std::max<int64_t>(0, r.oop_wrong) + std::max<int64_t>(0, r.ip_wrong);
      }
      if (lead)
        std::printf("# %s %s: out of bounds values : %lld %s\n# Avg bus bandwidth    : %.4f GB/s\n",
                    comm->backendName(), type.c_str(), static_cast<long long>(wrong),
                    wrong == 0 ? "OK" : "FAILED", rows.empty() ? 0.0 : sum / rows.size());
      all.insert(all.end(), rows.begin(), rows.end());
    }
  }
  if (lead && !options.json_path.empty())
    trainrun::writeFileAtomic(options.json_path,
                              trainrun::bench::formatJson(all, ctx.world_size, nodes));
  int64_t wrong = 0;
  for (const auto& r : all)
    wrong += std::max<int64_t>(0, r.oop_wrong) + std::max<int64_t>(0, r.ip_wrong);
  return wrong == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  FLAGS_caffe2_log_level = c10::GLOG_ERROR;
  try {
    return run(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const trainrun::Error& e) {
    trainrun::log::error(e.what());
    return e.exitCode();
  } catch (const std::exception& e) {
    trainrun::log::error(e.what());
    return 1;
  }
}
