// `trainrun bench allreduce`: its flags (nccl-tests' spellings), apart from the launcher's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace trainrun::bench {

struct AllreduceBenchOptions {
  int64_t min_bytes = 8;                        // -b
  int64_t max_bytes = 32 << 20;                 // -e
  int64_t step_factor = 2;                      // -f
  int warmup_iters = 5;                         // -w
  int iters = 20;                               // -n
  std::vector<std::string> dtypes = {"float"};  // -d: float, half, bfloat16
  std::vector<std::string> backends;            // --backend: empty = every one this job can use
  bool check = true;                            // -c
  std::string json_path;                        // --json
};

// The benchmark's flags and what is left for the launcher.
struct BenchCommandLine {
  std::vector<std::string> launcher_args;
  AllreduceBenchOptions bench;
};

// `args` after "bench allreduce": its own flags are taken out, the rest (the launcher's
// flags) kept in order. Throws ConfigError (one line naming the flag) for a bad value.
BenchCommandLine splitBenchArgs(const std::vector<std::string>& args);
// The rank's side: every argument must be a benchmark flag.
AllreduceBenchOptions parseBenchArgs(const std::vector<std::string>& args);
// The options as flags again, for the ranks' command line.
std::vector<std::string> benchArgv(const AllreduceBenchOptions& options);
// `trainrun bench allreduce --help`: the benchmark's flags, ending in a newline.
std::string allreduceUsage();
// "8", "4096", "1K", "32M", "1G" (powers of 1024). Throws ConfigError naming `flag`.
int64_t parseBytes(const std::string& text, const std::string& flag);

}  // namespace trainrun::bench
