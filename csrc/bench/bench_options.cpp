// `trainrun bench allreduce`'s flags on the shared parser (core/cli_parser.h): checked here,
// passed on to the ranks.
#include "bench/bench_options.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <memory>

#include "core/cli_parser.h"
#include "core/error.h"
#include "core/strings.h"

namespace trainrun::bench {
namespace {

constexpr int64_t kMaxBytes = int64_t(1) << 30;  // 1 GiB, as nccl-tests' usual top size

int parseCount(const std::string& text, const std::string& flag, int min) {
  return static_cast<int>(parseWholeNumber(text, flag, min, 1'000'000));
}

// Applies one benchmark flag; false when `flag` is not one.
bool apply(AllreduceBenchOptions& o, const std::string& flag, const std::string& value) {
  static const std::vector<std::string> kTypes = {"float", "half", "bfloat16"};
  static const std::vector<std::string> kBackends = {"shm", "gloo", "hierarchical", "nccl"};
  if (flag == "-b" || flag == "--minbytes") {
    o.min_bytes = parseBytes(value, flag);
  } else if (flag == "-e" || flag == "--maxbytes") {
    o.max_bytes = parseBytes(value, flag);
  } else if (flag == "-f" || flag == "--stepfactor") {
    o.step_factor = parseCount(value, flag, 2);
  } else if (flag == "-w" || flag == "--warmup_iters") {
    o.warmup_iters = parseCount(value, flag, 0);
  } else if (flag == "-n" || flag == "--iters") {
    o.iters = parseCount(value, flag, 1);
  } else if (flag == "-c" || flag == "--check") {
    o.check = parseCount(value, flag, 0) != 0;
  } else if (flag == "--json") {
    if (value.empty()) throw ConfigError("--json needs a file name");
    o.json_path = value;
  } else if (flag == "-d" || flag == "--datatype") {
    o.dtypes = value == "all" ? kTypes : splitList(value);
    for (const std::string& t : o.dtypes)
      if (std::find(kTypes.begin(), kTypes.end(), t) == kTypes.end())
        throw ConfigError(flag + ": unknown type '" + t + "'; choose from " + joinNames(kTypes) +
                          " or all");
    if (o.dtypes.empty()) throw ConfigError(flag + " needs a type: " + joinNames(kTypes));
  } else if (flag == "--backend") {
    o.backends = splitList(value);
    for (const std::string& b : o.backends)
      if (std::find(kBackends.begin(), kBackends.end(), b) == kBackends.end())
        throw ConfigError("--backend: unknown backend '" + b + "'; choose from " +
                          joinNames(kBackends));
  } else {
    return false;
  }
  return true;
}

// The benchmark's flags (nccl-tests' spellings), in the order its --help lists them.
const cli::CommandParser& benchFlags() {
  static const std::unique_ptr<cli::CommandParser> flags = [] {
    auto p = std::make_unique<cli::CommandParser>("trainrun bench allreduce");
    p->flag("-b,--minbytes", "SIZE", "smallest message (default 8; K, M, G are powers of 1024)");
    p->flag("-e,--maxbytes", "SIZE", "largest message, at most 1G (default 32M)");
    p->flag("-f,--stepfactor", "N", "size multiplier between rows (default 2)");
    p->flag("-w,--warmup_iters", "N", "untimed iterations per size (default 5)");
    p->flag("-n,--iters", "N", "timed iterations per size (default 20)");
    p->flag("-c,--check", "0|1", "check every result against the expected sum (default 1)");
    p->flag("-d,--datatype", "T,...", "float, half, bfloat16 or all (default float)");
    p->flag("--backend", "B,...",
            "shm, gloo, hierarchical, nccl (default: every one this job can use)");
    p->flag("--json", "FILE", "the table as JSON too");
    return p;
  }();
  return *flags;
}

cli::ErrorWording benchWording() {
  cli::ErrorWording w;
  w.unknown_flag = [](const std::string& flag, const std::string&) {
    return "trainrun bench allreduce: unknown flag " + flag;
  };
  w.needs_value = [](const std::string& flag) { return flag + " needs a value"; };
  return w;
}

void checkRange(const AllreduceBenchOptions& o) {
  if (o.min_bytes > o.max_bytes)
    throw ConfigError("-b (" + std::to_string(o.min_bytes) + " B) is above -e (" +
                      std::to_string(o.max_bytes) + " B); give -b <= -e");
}

// Applies the flags `parsed` holds, in command-line order, and checks -b <= -e.
AllreduceBenchOptions benchOptions(const cli::ParsedArgs& parsed) {
  AllreduceBenchOptions o;
  for (const cli::FlagValue& f : parsed.flags) apply(o, f.typed, f.value);
  checkRange(o);
  return o;
}

}  // namespace

int64_t parseBytes(const std::string& text, const std::string& flag) {
  size_t used = 0;
  long long v = -1;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
  }
  int64_t scale = 1;
  if (used + 1 == text.size()) {
    switch (std::toupper(static_cast<unsigned char>(text.back()))) {
      case 'K':
        scale = 1 << 10;
        break;
      case 'M':
        scale = 1 << 20;
        break;
      case 'G':
        scale = 1 << 30;
        break;
      default:
        scale = 0;
    }
    ++used;
  }
  if (used != text.size() || scale == 0 || v < 1 || v * scale > kMaxBytes)
    throw ConfigError(flag + " needs a size from 1 to 1G (e.g. 8, 4K, 32M, 1G), got '" + text +
                      "'");
  return v * scale;
}

BenchCommandLine splitBenchArgs(const std::vector<std::string>& args) {
  const cli::ParsedArgs parsed = benchFlags().parse(args, benchWording(), /*keep_unknown=*/true);
  return {parsed.extras, benchOptions(parsed)};
}

AllreduceBenchOptions parseBenchArgs(const std::vector<std::string>& args) {
  const cli::ParsedArgs parsed = benchFlags().parse(args, benchWording());
  if (!parsed.extras.empty())  // a word that is no flag
    throw ConfigError(benchWording().unknown_flag(parsed.extras.front(), ""));
  return benchOptions(parsed);
}

std::vector<std::string> benchArgv(const AllreduceBenchOptions& o) {
  auto join = [](const std::vector<std::string>& items) {
    std::string s;
    for (const std::string& i : items) s += (s.empty() ? "" : ",") + i;
    return s;
  };
  std::vector<std::string> argv = {"-b", std::to_string(o.min_bytes),
                                   "-e", std::to_string(o.max_bytes),
                                   "-f", std::to_string(o.step_factor),
                                   "-w", std::to_string(o.warmup_iters),
                                   "-n", std::to_string(o.iters),
                                   "-c", o.check ? "1" : "0",
                                   "-d", join(o.dtypes)};
  if (!o.backends.empty()) argv.insert(argv.end(), {"--backend", join(o.backends)});
  if (!o.json_path.empty()) argv.insert(argv.end(), {"--json", o.json_path});
  return argv;
}

std::string allreduceUsage() {
  return R"(usage: trainrun [launcher options] bench allreduce [benchmark options]

nccl-tests' all_reduce_perf on the job's ranks: one row per size and type, with a units row,
time, algbw and busbw (= algbw * 2(n-1)/n) per backend and a correctness column; rank 0 prints.
The launcher's options (--nproc-per-node, --nnodes, --rdzv-endpoint, ...; `trainrun --help`)
place the ranks.

)" + benchFlags().optionsHelp("benchmark options (nccl-tests' spellings):");
}

}  // namespace trainrun::bench
