// Parsing `trainrun bench scaling` / `bench predict` flags, checked before anything runs.
#include "bench/scaling_options.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/strings.h"

namespace trainrun::bench {
std::string scalingUsage() {
  return "usage: trainrun bench scaling CONFIG [--nodes 1,2,4] [--nproc-per-node N]\n"
         "           [--mode weak|strong|both] [--steps N] [--link RATE,LATENCY|FILE]\n"
         "           [--hosts ADDR,... [--remote 'ssh {host}'] [--port P]]\n"
         "           [--sweep KEY=V1,V2] [--set KEY=VALUE]... [--out DIR] [--json F] [--plot "
         "F.png]\n"
         "       trainrun bench predict CONFIG --nodes 8,16,32 --link RATE,LATENCY|FILE\n"
         "           [--nproc-per-node N] [--profile profile.json] [--steps N] [--set "
         "KEY=VALUE]...\n"
         "           [--json F]\n";
}

ScalingOptions parseScalingArgs(const std::vector<std::string>& args, bool predict) {
  static const std::vector<std::string> kFlags = {
      "--nodes", "--nnodes", "--nproc-per-node", "--mode",   "--steps", "--link",
      "--hosts", "--remote", "--port",           "--sweep",  "--set",   "--out",
      "--json",  "--plot",   "--timeout",        "--profile"};
  ScalingOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i], value;
    if (flag.rfind("--", 0) != 0) {
      if (!o.config_path.empty())
        throw ConfigError("trainrun bench: one CONFIG only, got '" + o.config_path + "' and '" +
                          flag + "'");
      o.config_path = flag;
      continue;
    }
    const size_t eq = flag.find('=');
    if (eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      throw ConfigError(flag + " needs a value");
    }
    if (std::find(kFlags.begin(), kFlags.end(), flag) == kFlags.end()) {
      const std::string near = closestMatch(flag, kFlags);
      throw ConfigError("trainrun bench: unknown flag " + flag +
                        (near.empty() ? "" : " (did you mean " + near + "?)"));
    }
    if (flag == "--nodes" || flag == "--nnodes") {
      o.nodes.clear();
      for (const std::string& n : splitList(value))
        o.nodes.push_back(parseWholeNumber(n, flag, 1, predict ? 100000 : 64));
      if (o.nodes.empty()) throw ConfigError(flag + " needs node counts such as 1,2,4");
    } else if (flag == "--nproc-per-node") {
      o.nproc_per_node = parseWholeNumber(value, flag, 1, 1024);
    } else if (flag == "--mode") {
      if (value != "weak" && value != "strong" && value != "both")
        throw ConfigError("--mode " + value + ": choose weak, strong or both");
      o.modes = value == "both" ? std::vector<std::string>{"weak", "strong"}
                                : std::vector<std::string>{value};
    } else if (flag == "--steps") {
      o.steps = parseWholeNumber(value, flag, 6, 1000000);
    } else if (flag == "--link") {
      o.link = value;
    } else if (flag == "--hosts") {
      o.hosts = splitList(value);
    } else if (flag == "--remote") {
      if (value.find("{host}") == std::string::npos && value.find("{node}") == std::string::npos)
        throw ConfigError("--remote '" + value +
                          "' names no host: use {host} or {node}, e.g. "
                          "--remote 'ssh {host}'");
      o.remote = value;
    } else if (flag == "--port") {
      o.port = static_cast<int>(parseWholeNumber(value, flag, 1, 65535));
    } else if (flag == "--sweep") {
      const size_t at = value.find('=');
      o.sweep_values =
          at == std::string::npos ? std::vector<std::string>{} : splitList(value.substr(at + 1));
      if (at == std::string::npos || at == 0 || o.sweep_values.empty())
        throw ConfigError("--sweep " + value +
                          ": give KEY=V1,V2 (e.g. dist.compression=none,fp16)");
      o.sweep_key = value.substr(0, at);
    } else if (flag == "--set") {
      if (value.find('=') == std::string::npos)
        throw ConfigError("--set " + value + ": give KEY=VALUE");
      o.overrides.push_back(value);
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
    }
  }
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
  return o;
}

}  // namespace trainrun::bench
