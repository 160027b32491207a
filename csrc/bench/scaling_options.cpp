// `trainrun bench scaling` / `bench predict` flags on the shared parser (core/cli_parser.h),
// checked before anything runs.
#include "bench/scaling_options.h"

#include <algorithm>
#include <filesystem>
#include <memory>

#include "core/cli_parser.h"
#include "core/error.h"
#include "core/strings.h"

namespace trainrun::bench {
namespace {

// Both subcommands' flags, in the order their --help lists them.
const cli::CommandParser& scalingFlags() {
  static const std::unique_ptr<cli::CommandParser> flags = [] {
    auto p = std::make_unique<cli::CommandParser>("trainrun bench");
    p->operand("CONFIG");
    p->flag("--nodes,--nnodes", "N,...",
            "node counts (alias --nnodes): scaling's start at 1 (at most 64);\n"
            "predict's may be any (default 1,2)");
    p->flag("--nproc-per-node", "N", "ranks per node (default 1)");
    p->flag("--mode", "M", "weak, strong or both (default weak)");
    p->flag("--steps", "N", "steps per run; the medians skip the first 3 (default 30)");
    p->flag("--link", "LINK",
            "RATE,LATENCY (e.g. 100Gbit,5us) or the JSON file of a two-node\n"
            "`trainrun bench allreduce --json` (predict needs it)");
    p->flag("--hosts", "ADDR,...", "node i runs on the i-th address (default: all on this host)");
    p->flag("--remote", "PREFIX",
            "what runs a command on a host, naming {host} or {node}\n"
            "(default 'ssh {host}')");
    p->flag("--port", "P", "the rendezvous port on the first host (default 29400)");
    p->flag("--sweep", "KEY=V1,V2", "one series per value of a config key");
    p->flag("--set", "KEY=VALUE", "override a config key in every run (repeatable)");
    p->flag("--out", "DIR", "the runs' folders and logs (default bench-scaling)");
    p->flag("--json", "FILE", "the table as JSON too");
    p->flag("--plot", "FILE.png", "efficiency against nodes, drawn by gnuplot");
    p->flag("--timeout", "S", "seconds per run (default 600)");
    p->flag("--profile", "FILE", "predict: a profile.json instead of a one-node run");
    return p;
  }();
  return *flags;
}

// --nodes, --mode, --sweep and the others whose value needs more than a copy.
void applyListFlag(ScalingOptions& o, const std::string& flag, const std::string& value,
                   bool predict) {
  if (flag == "--nodes" || flag == "--nnodes") {
    o.nodes.clear();
    for (const std::string& n : splitList(value))
      o.nodes.push_back(parseWholeNumber(n, flag, 1, predict ? 100000 : 64));
    if (o.nodes.empty()) throw ConfigError(flag + " needs node counts such as 1,2,4");
  } else if (flag == "--mode") {
    if (value != "weak" && value != "strong" && value != "both")
      throw ConfigError("--mode " + value + ": choose weak, strong or both");
    o.modes = value == "both" ? std::vector<std::string>{"weak", "strong"}
                              : std::vector<std::string>{value};
  } else if (flag == "--remote") {
    if (value.find("{host}") == std::string::npos && value.find("{node}") == std::string::npos)
      throw ConfigError("--remote '" + value +
                        "' names no host: use {host} or {node}, e.g. "
                        "--remote 'ssh {host}'");
    o.remote = value;
  } else if (flag == "--sweep") {
    const size_t at = value.find('=');
    o.sweep_values =
        at == std::string::npos ? std::vector<std::string>{} : splitList(value.substr(at + 1));
    if (at == std::string::npos || at == 0 || o.sweep_values.empty())
      throw ConfigError("--sweep " + value + ": give KEY=V1,V2 (e.g. dist.compression=none,fp16)");
    o.sweep_key = value.substr(0, at);
  } else if (flag == "--set") {
    if (value.find('=') == std::string::npos)
      throw ConfigError("--set " + value + ": give KEY=VALUE");
    o.overrides.push_back(value);
  }
}

// One flag, as typed (`flag` names it in any message).
void applyFlag(ScalingOptions& o, const std::string& flag, const std::string& value, bool predict) {
  if (flag == "--nproc-per-node") {
    o.nproc_per_node = parseWholeNumber(value, flag, 1, 1024);
  } else if (flag == "--steps") {
    o.steps = parseWholeNumber(value, flag, 6, 1000000);
  } else if (flag == "--link") {
    o.link = value;
  } else if (flag == "--hosts") {
    o.hosts = splitList(value);
  } else if (flag == "--port") {
    o.port = static_cast<int>(parseWholeNumber(value, flag, 1, 65535));
  } else if (flag == "--out") {
    o.out_dir = value;
  } else if (flag == "--json") {
    o.json_path = value;
  } else if (flag == "--plot") {
    o.plot_path = value;
  } else if (flag == "--timeout") {
    o.timeout_s = static_cast<int>(parseWholeNumber(value, flag, 10, 86400));
  } else if (flag == "--profile") {
    o.profile_path = value;
  } else {
    applyListFlag(o, flag, value, predict);
  }
}

// What no single flag shows: a CONFIG, --link for predict, one host per node, a PNG.
void checkOptions(ScalingOptions& o, bool predict) {
  if (o.config_path.empty() && o.profile_path.empty())
    throw ConfigError("trainrun bench " + std::string(predict ? "predict" : "scaling") +
                      ": give a CONFIG (e.g. configs/digits-mlp.yaml)");
  std::sort(o.nodes.begin(), o.nodes.end());
  o.nodes.erase(std::unique(o.nodes.begin(), o.nodes.end()), o.nodes.end());
  if (predict && o.link.empty())
    throw ConfigError(
        "trainrun bench predict needs --link RATE,LATENCY (e.g. 100Gbit,5us) or "
        "the JSON file of a two-node `trainrun bench allreduce --json`");
  if (!predict) {
    if (o.nodes.front() != 1)
      throw ConfigError("--nodes must start at 1: efficiency is measured against one node");
    if (!o.hosts.empty() && int64_t(o.hosts.size()) < o.nodes.back())
      throw ConfigError("--hosts names " + std::to_string(o.hosts.size()) + " hosts for " +
                        std::to_string(o.nodes.back()) + " nodes: give one address per node");
  }
  if (!o.plot_path.empty() && std::filesystem::path(o.plot_path).extension() != ".png")
    throw ConfigError("--plot " + o.plot_path + ": the plot is a PNG; name it *.png");
}

}  // namespace

std::string scalingUsage() {
  return "usage: trainrun bench scaling CONFIG [--nodes 1,2,4] [--nproc-per-node N]\n"
         "           [--mode weak|strong|both] [--steps N] [--link RATE,LATENCY|FILE]\n"
         "           [--hosts ADDR,... [--remote 'ssh {host}'] [--port P]]\n"
         "           [--sweep KEY=V1,V2] [--set KEY=VALUE]... [--out DIR] [--json F] [--plot "
         "F.png]\n"
         "       trainrun bench predict CONFIG --nodes 8,16,32 --link RATE,LATENCY|FILE\n"
         "           [--nproc-per-node N] [--profile profile.json] [--steps N] [--set "
         "KEY=VALUE]...\n"
         "           [--json F]\n"
         "\n" +
         scalingFlags().optionsHelp("options:");
}

ScalingOptions parseScalingArgs(const std::vector<std::string>& args, bool predict) {
  const cli::ParsedArgs parsed = scalingFlags().parse(args, cli::commandWording("trainrun bench"));
  ScalingOptions o;
  if (!parsed.operands.empty()) o.config_path = parsed.operands.front();
  for (const std::string& extra : parsed.extras)
    throw ConfigError("trainrun bench: one CONFIG only, got '" + o.config_path + "' and '" + extra +
                      "'");
  for (const cli::FlagValue& f : parsed.flags) applyFlag(o, f.typed, f.value, predict);
  checkOptions(o, predict);
  return o;
}

}  // namespace trainrun::bench
