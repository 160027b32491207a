// token_loader_bench: trainrun's token loader alone (shard source, sample stream, batch reader).
//
// usage: token_loader_bench <data.path> <batch> <block_size> <batches> [seed]
// Reads <batches> batches of <batch> windows of <block_size> + 1 tokens from the stream's start
// as int64 inputs and targets (what the model takes), one rank, and prints one JSON line:
// {"tokens": ..., "seconds": ..., "cpu_seconds": ..., "setup_seconds": ..., "checksum": ...}.
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "data/batch_plan.h"
#include "data/shard_manifest.h"
#include "data/shard_source.h"
#include "data/token_batch.h"
#include "data/token_windows.h"

namespace {

double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) * 1e-6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s <data.path> <batch> <block_size> <batches> [seed]\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  const int64_t batch = std::stoll(argv[2]);
  const uint64_t block = std::stoull(argv[3]);
  const int64_t batches = std::stoll(argv[4]);
  trainrun::SampleOrderOptions order;
  order.seed = argc > 5 ? std::stoull(argv[5]) : 0;
  try {
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = cpuSeconds();
    auto source = trainrun::openLocalShardSource(path, trainrun::ShardFormatSpec{});
    const trainrun::ShardManifest manifest = trainrun::buildManifest(*source);
    const trainrun::SampleStream stream(manifest, block, order);
    const trainrun::TokenBatchReader reader(*source, manifest, stream);
    const trainrun::BatchPlan plan(batch, 1, 1, 0);
    const double setup = since(start);
    std::vector<int64_t> x(size_t(batch) * block), y(x.size());
    uint64_t consumed = 0, checksum = 0;
    for (int64_t b = 0; b < batches; ++b) {
      const trainrun::BatchPlan::Range r = plan.positions(consumed, 0);
      reader.read(r.begin, r.count, x.data(), y.data());
      checksum += uint64_t(x[0]) + uint64_t(y.back());
      consumed = plan.after(consumed);
    }
    std::printf(
        "{\"tokens\": %lld, \"seconds\": %.6f, \"cpu_seconds\": %.6f, \"setup_seconds\": %.6f, "
        "\"checksum\": %llu}\n",
        static_cast<long long>(batches * batch * int64_t(block)), since(start),
        cpuSeconds() - cpu_start, setup, static_cast<unsigned long long>(checksum));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "token_loader_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
