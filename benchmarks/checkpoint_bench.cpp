// checkpoint_bench: training stall of async vs sync checkpoint saves, and raw upload speed.
//
// usage: checkpoint_bench URI [--mb 256] [--trials 5] [--put-only 1]
// Prints one JSON object: median stall of each mode, the ratio, and put() throughput
// (--put-only 1: just one timed put(), so a driver can interleave it with another uploader).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_manager.h"
#include "core/clock.h"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median seconds of a raw put() of one mb MiB object, as `aws s3 cp` would upload it.
double timedPut(const std::string& uri, int64_t mb, int64_t trials) {
  std::vector<char> blob(size_t(mb) << 20, 'x');
  auto storage = trainrun::openStorage(uri);
  std::vector<double> put_s;
  for (int64_t t = 0; t < trials; ++t) {
    trainrun::Clock::time_point start = trainrun::Clock::now();
    storage->put("bench-put/blob.bin", blob.data(), blob.size());
    put_s.push_back(trainrun::secondsSince(start));
  }
  storage->remove("bench-put/blob.bin");
  return median(put_s);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace trainrun;
  if (argc < 2) {
    std::fprintf(stderr, "usage: checkpoint_bench URI [--mb N] [--trials N]\n");
    return 2;
  }
  std::string uri = argv[1];
  int64_t mb = 256, trials = 5, put_only = 0;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--mb") mb = std::stoll(argv[i + 1]);
    if (flag == "--trials") trials = std::stoll(argv[i + 1]);
    if (flag == "--put-only") put_only = std::stoll(argv[i + 1]);
  }
  try {
    if (put_only) {
      std::printf("{\"put_mb_per_s\": %.1f}\n", double(mb) / timedPut(uri, mb, 1));
      return 0;
    }
    // A model-like state: a few large and many small fp32 tensors, mb MiB in all.
    CheckpointState state;
    const int64_t floats = mb * (1 << 20) / 4;
    for (int i = 0; i < 4; ++i)
      state.replicated.emplace_back("model.big" + std::to_string(i), torch::randn({floats / 5}));
    for (int i = 0; i < 200; ++i)
      state.replicated.emplace_back("model.small" + std::to_string(i),
                                    torch::randn({floats / 5 / 200}));
    state.counters = {{"step", 0}};

    std::vector<double> sync_stall, async_stall, async_total;
    for (bool async : {false, true}) {
      CheckpointOptions o;
      o.uri = uri;
      o.run_name = async ? "bench-async" : "bench-sync";
      o.keep_last = 1;
      o.async = async;
      CheckpointManager m(o, 0, 1, nullptr, {});
      for (int64_t t = 0; t < trials; ++t) {
        Clock::time_point start = Clock::now();
        double stall = m.save(t + 1, state);
        m.wait();
        (async ? async_stall : sync_stall).push_back(stall * 1e3);
        if (async) async_total.push_back(secondsSince(start) * 1e3);
      }
    }

    std::printf(
        "{\"state_mb\": %lld, \"trials\": %lld, \"sync_stall_ms\": %.3f, \"async_stall_ms\": "
        "%.3f, \"async_over_sync\": %.4f, \"async_background_ms\": %.1f, \"put_mb_per_s\": %.1f}\n",
        (long long)mb, (long long)trials, median(sync_stall), median(async_stall),
        median(async_stall) / median(sync_stall), median(async_total),
        double(mb) / timedPut(uri, mb, std::min<int64_t>(trials, 3)));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "checkpoint_bench: %s\n", e.what());
    return 1;
  }
}
