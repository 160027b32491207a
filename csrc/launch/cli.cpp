// Hand-rolled torchrun-style flag parsing: strict, one clear line per mistake.
#include "launch/cli.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "core/error.h"

namespace trainrun::launch {
namespace {

constexpr int kMaxNprocPerNode = 4096;
constexpr const char* kSeeHelp = "run 'trainrun --help' for usage";

bool startsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Parses all of `text` as a base-10 integer in [lo, hi]; false if anything is off.
bool parseInt(const std::string& text, long lo, long hi, long* out) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return false;
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

int parseNproc(const std::string& flag, const std::string& value) {
  long v = 0;
  if (!parseInt(value, 1, kMaxNprocPerNode, &v)) {
    throw ConfigError(flag + " '" + value +
                      "' is not a process count; use a whole number from 1 to " +
                      std::to_string(kMaxNprocPerNode) + ", e.g. " + flag + " 2");
  }
  return static_cast<int>(v);
}

int parseNnodes(const std::string& flag, const std::string& value) {
  // torchrun takes N or MIN:MAX (elastic); both ends must be 1 until multi-node lands.
  constexpr long kMaxNodes = 1 << 20;
  auto colon = value.find(':');
  std::string min_text = value.substr(0, colon);
  std::string max_text = colon == std::string::npos ? min_text : value.substr(colon + 1);
  long lo = 0, hi = 0;
  if (!parseInt(min_text, 1, kMaxNodes, &lo) || !parseInt(max_text, 1, kMaxNodes, &hi) || lo > hi) {
    throw ConfigError(flag + " '" + value + "' is not a node count; use " + flag + " 1");
  }
  if (lo != 1 || hi != 1) {
    throw ConfigError(flag + " " + value +
                      ": only single-node runs are supported so far (multi-node launch is a "
                      "later issue); use " +
                      flag + " 1");
  }
  return 1;
}

uint16_t parsePort(const std::string& flag, const std::string& value) {
  long v = 0;
  if (!parseInt(value, 0, 65535, &v)) {
    throw ConfigError(flag + " '" + value +
                      "' is not a TCP port; use 0..65535 (0 = any free port)");
  }
  return static_cast<uint16_t>(v);
}

std::chrono::milliseconds parseSeconds(const std::string& flag, const std::string& value) {
  errno = 0;
  char* end = nullptr;
  double s = value.empty() ? -1 : std::strtod(value.c_str(), &end);
  if (value.empty() || errno != 0 || *end != '\0' || !std::isfinite(s) || s < 0 || s > 86400) {
    throw ConfigError(flag + " '" + value + "' is not a duration; give seconds, e.g. " + flag +
                      " 10 (0 kills at once)");
  }
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(s * 1000)));
}

std::string parseOverride(const std::string& flag, const std::string& value) {
  auto eq = value.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ConfigError(flag + " '" + value + "' is not key=value; use e.g. " + flag +
                      " train.steps=100");
  }
  return value;
}

}  // namespace

LaunchOptions parseCommandLine(const std::vector<std::string>& args) {
  LaunchOptions opts;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      opts.command.assign(args.begin() + static_cast<long>(i) + 1, args.end());
      if (opts.command.empty()) {
        throw ConfigError("-- must be followed by a COMMAND to run, e.g. -- python3 train.py");
      }
      break;
    }
    if (arg == "-h" || arg == "--help") {
      opts.help = true;
      return opts;
    }
    if (startsWith(arg, "--")) {
      // torchrun spells flags with underscores; both spellings mean the same flag.
      auto eq = arg.find('=');
      std::string flag = arg.substr(0, eq);
      std::replace(flag.begin() + 2, flag.end(), '_', '-');
      bool known = flag == "--nproc-per-node" || flag == "--nnodes" || flag == "--master-addr" ||
                   flag == "--master-port" || flag == "--grace-period" || flag == "--set";
      if (!known) throw ConfigError("unknown flag " + arg.substr(0, eq) + "; " + kSeeHelp);
      std::string value;
      if (eq != std::string::npos) {
        value = arg.substr(eq + 1);
      } else if (i + 1 < args.size() && args[i + 1] != "--") {
        value = args[++i];
      } else {
        throw ConfigError(flag + " needs a value; " + kSeeHelp);
      }
      if (flag == "--nproc-per-node") {
        opts.nproc_per_node = parseNproc(flag, value);
      } else if (flag == "--nnodes") {
        opts.nnodes = parseNnodes(flag, value);
      } else if (flag == "--master-addr") {
        if (value.empty()) throw ConfigError(flag + " needs a host name or IP address");
        opts.master_addr = value;
      } else if (flag == "--master-port") {
        opts.master_port = parsePort(flag, value);
      } else if (flag == "--grace-period") {
        opts.grace_period = parseSeconds(flag, value);
      } else {
        opts.overrides.push_back(parseOverride(flag, value));
      }
      continue;
    }
    if (startsWith(arg, "-") && arg != "-") {
      throw ConfigError("unknown flag " + arg + "; " + kSeeHelp);
    }
    if (!opts.config_path.empty()) {
      throw ConfigError("unexpected argument '" + arg + "' after CONFIG " + opts.config_path +
                        "; override config keys with --set key=value, or run a program with -- "
                        "COMMAND");
    }
    opts.config_path = arg;
  }
  if (opts.command.empty() && opts.config_path.empty()) {
    throw ConfigError(std::string("nothing to run: give a CONFIG file or -- COMMAND; ") + kSeeHelp);
  }
  if (!opts.command.empty() && !opts.config_path.empty()) {
    throw ConfigError("give either CONFIG (" + opts.config_path + ") or -- COMMAND, not both");
  }
  if (!opts.command.empty() && !opts.overrides.empty()) {
    throw ConfigError("--set only applies to CONFIG runs; pass settings to your COMMAND directly");
  }
  return opts;
}

std::string usageText() {
  return R"(usage: trainrun [options] CONFIG [--set KEY=VALUE ...]
       trainrun [options] -- COMMAND [ARGS ...]

Launches one process per local rank with torchrun's environment (RANK, LOCAL_RANK,
WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT; OMP_NUM_THREADS when
unset) and hosts the job's rendezvous store. CONFIG runs the built-in worker
(trainrun-worker next to trainrun, or $TRAINRUN_WORKER); -- COMMAND runs any program as
each rank's worker. Rank output is prefixed "[rank N] ". When a rank fails, the others are
stopped (SIGTERM, then SIGKILL after the grace period).

options:
  --nproc-per-node N   processes (ranks) on this node (default 1)
  --nnodes N           nodes in the job; only 1 for now (default 1)
  --master-addr ADDR   address ranks use to reach the rendezvous store (default 127.0.0.1)
  --master-port PORT   rendezvous store port; a free one is used if taken (default 29500)
  --grace-period S     seconds from SIGTERM to SIGKILL when stopping ranks (default 10)
  --set KEY=VALUE      override a config key, e.g. --set train.steps=100 (repeatable)
  -h, --help           show this help and exit

Flags also take --flag=VALUE and torchrun's underscore spellings (--nproc_per_node).
Exit status: 0 when every rank succeeds; the first failing rank's exit code (128+signal if
it was killed); 128+signal when trainrun itself gets SIGINT/SIGTERM; 2 for usage or config
errors.
)";
}

}  // namespace trainrun::launch
