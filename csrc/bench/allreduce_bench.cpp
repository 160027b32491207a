// timeAllreduce and its table: nccl-tests' method (warm-up, timed loop, bus bandwidth, #wrong).
#include "bench/allreduce_bench.h"

#include <torch/torch.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/error.h"

namespace trainrun::bench {
namespace {

torch::ScalarType scalarType(const std::string& type) {
  if (type == "float") return torch::kFloat32;
  if (type == "half") return torch::kFloat16;
  if (type == "bfloat16") return torch::kBFloat16;
  throw ConfigError("unknown all-reduce type '" + type + "'");
}

// Rank r's element i: (i + r) % 5 + 1; the sum over n ranks is exact in every type (at most
// 5n, well under fp16's and bf16's exact integers for any world this runs on).
torch::Tensor input(int64_t count, int rank, torch::ScalarType type, torch::Device device) {
  auto idx = torch::arange(count, torch::kInt64);
  return ((idx + rank) % 5 + 1).to(type).to(device);
}

torch::Tensor expected(int64_t count, int world, torch::ScalarType type) {
  auto idx = torch::arange(count, torch::kInt64);
  auto sum = torch::zeros({count}, torch::kInt64);
  for (int r = 0; r < world; ++r) sum += (idx + r) % 5 + 1;
  return sum.to(type);
}

// Seconds per call of `op`, the slowest rank's.
template <typename Op>
double timeLoop(Communicator& comm, int warmup, int iters, Op op) {
  for (int i = 0; i < warmup; ++i) op();
  comm.barrier();
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < iters; ++i) op();
  std::vector<torch::Tensor> t{
      torch::tensor({secondsSince(start) / iters}, torch::kFloat64).to(comm.device())};
  comm.allreduce(t, ReduceOp::kMax)->wait();
  return t[0].cpu().item<double>();
}

int64_t wrongElements(Communicator& comm, const torch::Tensor& got, const torch::Tensor& want) {
  std::vector<torch::Tensor> t{
      torch::tensor({got.cpu().ne(want).sum().item<int64_t>()}, torch::kInt64).to(comm.device())};
  comm.allreduce(t, ReduceOp::kSum)->wait();
  return t[0].cpu().item<int64_t>();
}

void bandwidth(double seconds, int64_t bytes, int world, double* us, double* alg, double* bus) {
  *us = seconds * 1e6;
  *alg = seconds > 0 ? static_cast<double>(bytes) / seconds / 1e9 : 0;
  *bus = *alg * 2.0 * (world - 1) / world;
}

}  // namespace

int64_t elementBytes(const std::string& type) {
  return static_cast<int64_t>(c10::elementSize(scalarType(type)));
}

AllreduceRow timeAllreduce(Communicator& comm, const AllreduceRun& run) {
  const torch::ScalarType type = scalarType(run.type);
  AllreduceRow row;
  row.backend = comm.backendName();
  row.type = run.type;
  row.count = std::max<int64_t>(1, run.bytes / elementBytes(run.type));
  row.bytes = row.count * elementBytes(run.type);
  const int world = comm.size();
  const torch::Tensor in = input(row.count, comm.rank(), type, comm.device());

  std::vector<torch::Tensor> out{torch::empty_like(in)};
  const double oop = timeLoop(comm, run.warmup_iters, run.iters, [&] {
    out[0].copy_(in);
    comm.allreduce(out, ReduceOp::kSum)->wait();
  });
  bandwidth(oop, row.bytes, world, &row.oop_us, &row.oop_algbw, &row.oop_busbw);

  std::vector<torch::Tensor> buf{in.clone()};
  const double ip = timeLoop(comm, run.warmup_iters, run.iters,
                             [&] { comm.allreduce(buf, ReduceOp::kSum)->wait(); });
  bandwidth(ip, row.bytes, world, &row.ip_us, &row.ip_algbw, &row.ip_busbw);

  if (run.check) {
    const torch::Tensor want = expected(row.count, world, type);
    out[0].copy_(in);
    comm.allreduce(out, ReduceOp::kSum)->wait();
    row.oop_wrong = wrongElements(comm, out[0], want);
    buf[0].copy_(in);
    comm.allreduce(buf, ReduceOp::kSum)->wait();
    row.ip_wrong = wrongElements(comm, buf[0], want);
  }
  return row;
}

std::vector<std::string> formatTable(const std::vector<AllreduceRow>& rows) {
  std::vector<std::string> lines;
  char line[256];
  std::snprintf(line, sizeof(line), "# %12s %13s %8s %6s  %32s  %32s", "", "", "", "",
                "out-of-place", "in-place");
  lines.push_back(line);
  std::snprintf(line, sizeof(line), "# %12s %13s %8s %6s %9s %7s %7s %6s %9s %7s %7s %6s", "size",
                "count", "type", "redop", "time", "algbw", "busbw", "#wrong", "time", "algbw",
                "busbw", "#wrong");
  lines.push_back(line);
  std::snprintf(line, sizeof(line), "# %12s %13s %8s %6s %9s %7s %7s %6s %9s %7s %7s %6s", "(B)",
                "(elements)", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)",
                "");
  lines.push_back(line);
  auto wrong = [](int64_t w) { return w < 0 ? std::string("N/A") : std::to_string(w); };
  for (const AllreduceRow& r : rows) {
    std::snprintf(line, sizeof(line),
                  "  %12lld %13lld %8s %6s %9.1f %7.3f %7.3f %6s %9.1f %7.3f %7.3f %6s",
                  static_cast<long long>(r.bytes), static_cast<long long>(r.count), r.type.c_str(),
                  "sum", r.oop_us, r.oop_algbw, r.oop_busbw, wrong(r.oop_wrong).c_str(), r.ip_us,
                  r.ip_algbw, r.ip_busbw, wrong(r.ip_wrong).c_str());
    lines.push_back(line);
  }
  return lines;
}

std::string formatJson(const std::vector<AllreduceRow>& rows, int world_size, int nodes) {
  nlohmann::json out = {{"benchmark", "allreduce"}, {"world_size", world_size}, {"nodes", nodes}};
  nlohmann::json list = nlohmann::json::array();
  for (const AllreduceRow& r : rows) {
    list.push_back({{"backend", r.backend},
                    {"size_bytes", r.bytes},
                    {"count", r.count},
                    {"type", r.type},
                    {"redop", "sum"},
                    {"out_of_place",
                     {{"time_us", r.oop_us},
                      {"algbw_gbps", r.oop_algbw},
                      {"busbw_gbps", r.oop_busbw},
                      {"wrong", r.oop_wrong}}},
                    {"in_place",
                     {{"time_us", r.ip_us},
                      {"algbw_gbps", r.ip_algbw},
                      {"busbw_gbps", r.ip_busbw},
                      {"wrong", r.ip_wrong}}}});
  }
  out["rows"] = std::move(list);
  return out.dump(2) + "\n";
}

}  // namespace trainrun::bench
