// The scaling benchmark's runs (one launcher per node, locally or through --remote) and the
// predictor's command.
#include "bench/scaling.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>

#include "bench/link_model.h"
#include "bench/node_runs.h"
#include "bench/predictor.h"
#include "bench/scaling_options.h"
#include "bench/scaling_report.h"
#include "config/config.h"
#include "core/error.h"
#include "core/file.h"
#include "core/logging.h"

namespace trainrun::bench {
namespace {

namespace fs = std::filesystem;

// One run of the benchmark: a series (sweep value), a mode, a node count.
struct RunSpec {
  std::string series, mode;
  int64_t nodes = 1;
  int64_t global_batch = 0;
  std::string dir;  // its folder under --out
};

std::vector<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string replaced(std::string text, const std::string& key, const std::string& value) {
  for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size()))
    text.replace(at, key.size(), value);
  return text;
}

// The settings every run gets after the user's: a fresh, short, profiled run without
// checkpoints or intermediate evaluations.
std::vector<std::string> runSettings(const ScalingOptions& o, const RunSpec& run) {
  std::vector<std::string> sets = o.overrides;
  sets.insert(sets.end(), {"train.steps=" + std::to_string(o.steps),
                           "train.global_batch_size=" + std::to_string(run.global_batch),
                           "train.log_every=" + std::to_string(o.steps), "train.eval_every=0",
                           "train.profile=true", "output.dir=" + run.dir + "/output",
                           "checkpoint.uri=", "resume=never", "run.name=bench"});
  if (!o.sweep_key.empty()) sets.push_back(o.sweep_key + "=" + run.series);
  return sets;
}

std::vector<NodeCommand> nodeCommands(const ScalingOptions& o, const RunSpec& run,
                                      const std::string& trainrun, int port) {
  std::vector<NodeCommand> out;
  const std::vector<std::string> sets = runSettings(o, run);
  const std::string master = o.hosts.empty() ? "127.0.0.1" : o.hosts[0];
  for (int64_t i = 0; i < run.nodes; ++i) {
    NodeCommand c;
    if (!o.hosts.empty())
      c.argv = words(
          replaced(replaced(o.remote, "{host}", o.hosts[size_t(i)]), "{node}", std::to_string(i)));
    c.argv.push_back(trainrun);
    c.argv.insert(c.argv.end(), {"--nproc-per-node", std::to_string(o.nproc_per_node)});
    if (run.nodes > 1) {
      c.argv.insert(c.argv.end(),
                    {"--nnodes", std::to_string(run.nodes), "--node-rank", std::to_string(i),
                     "--rdzv-endpoint", master + ":" + std::to_string(port), "--rdzv-id",
                     "scaling-" + std::to_string(::getpid()) + "-" + std::to_string(port)});
      if (!o.hosts.empty()) c.argv.insert(c.argv.end(), {"--local-addr", o.hosts[size_t(i)]});
    }
    c.argv.push_back(o.config_path);
    for (const std::string& s : sets) c.argv.insert(c.argv.end(), {"--set", s});
    c.log_path = run.dir + "/node" + std::to_string(i) + ".log";
    out.push_back(std::move(c));
  }
  return out;
}

// Rank 0's "time_split: step_ms=..." line from node 0's log.
StepPhases timeSplit(const std::string& log_path) {
  const std::string line = lastLineWith(log_path, "time_split:");
  auto field = [&](const std::string& key) {
    std::smatch m;
    if (!std::regex_search(line, m, std::regex(key + "=([0-9.]+)"))) return double(NAN);
    return std::stod(m[1]);
  };
  StepPhases p{field("data_ms"), field("forward_ms"),   field("backward_ms"),
               field("comm_ms"), field("optimizer_ms"), field("step_ms")};
  if (std::isnan(p.step_ms) || p.step_ms <= 0)
    throw Error("trainrun bench: " + log_path + " has no time_split line from rank 0");
  return p;
}

// The job's global batch, checked (config errors surface here, before any run).
int64_t configuredBatch(const ScalingOptions& o) {
  std::vector<std::string> sets = o.overrides;
  if (!o.sweep_key.empty())
    for (const std::string& v : o.sweep_values) {
      std::vector<std::string> with = sets;
      with.push_back(o.sweep_key + "=" + v);
      config::loadJobConfig(o.config_path, with);  // each series' config must load
    }
  return config::loadJobConfig(o.config_path, sets).train().global_batch_size();
}

// Runs one node's profile (train.profile) of the config, or reads --profile.
NodeProfile profileOneNode(const ScalingOptions& o, const std::string& trainrun,
                           int64_t global_batch) {
  if (!o.profile_path.empty()) return readNodeProfile(o.profile_path);
  RunSpec run{"", "weak", 1, global_batch, o.out_dir + "/profile"};
  fs::create_directories(run.dir);
  ScalingOptions local = o;
  local.hosts.clear();
  log::out("trainrun bench predict: profiling " + o.config_path + " on this node (" +
           std::to_string(o.nproc_per_node) + " rank(s), " + std::to_string(o.steps) +
           " steps); log " + run.dir + "/node0.log");
  runTogether(nodeCommands(local, run, trainrun, o.port), o.timeout_s);
  return readNodeProfile(run.dir + "/output/profile.json");
}

std::string fixed(const char* format, double v) {
  char text[48];
  std::snprintf(text, sizeof(text), format, v);
  return text;
}

// -h/--help anywhere: the usage, and nothing runs.
bool printedHelp(const std::vector<std::string>& args) {
  for (const std::string& a : args)
    if (a == "-h" || a == "--help") {
      log::out(scalingUsage().substr(0, scalingUsage().size() - 1));
      return true;
    }
  return false;
}

}  // namespace

int runScalingBench(const std::vector<std::string>& args, const std::string& trainrun) {
  if (printedHelp(args)) return 0;
  const ScalingOptions o = parseScalingArgs(args, /*predict=*/false);
  const int64_t batch = configuredBatch(o);
  std::optional<LinkModel> link;
  if (!o.link.empty()) link = linkFromFlag(o.link);
  if (!o.plot_path.empty() && !gnuplotAvailable())
    throw ConfigError("--plot needs gnuplot: apt-get install gnuplot-nox (or drop --plot)");
  for (const std::string& mode : o.modes)
    for (int64_t n : o.nodes)
      if (mode == "strong" && batch % (n * o.nproc_per_node) != 0)
        throw ConfigError("--mode strong: train.global_batch_size " + std::to_string(batch) +
                          " does not split over " + std::to_string(n * o.nproc_per_node) +
                          " ranks; set one that every rank count divides");
  const std::vector<std::string> series =
      o.sweep_values.empty() ? std::vector<std::string>{"default"} : o.sweep_values;

  std::vector<ScalingRow> rows;
  int port = o.port;
  for (const std::string& s : series) {
    for (const std::string& mode : o.modes) {
      std::optional<Predictor> predictor;
      double one_node_rate = 0;
      for (int64_t n : o.nodes) {
        RunSpec run{s, mode, n, mode == "weak" ? batch * n : batch,
                    o.out_dir + "/" + s + "-" + mode + "-n" + std::to_string(n)};
        fs::create_directories(run.dir);
        log::out("trainrun bench scaling: " + s + " " + mode + ", " + std::to_string(n) +
                 " node(s) x " + std::to_string(o.nproc_per_node) + " rank(s), global batch " +
                 std::to_string(run.global_batch) + "; logs in " + run.dir);
        runTogether(nodeCommands(o, run, trainrun, port++), o.timeout_s);
        ScalingRow row;
        row.series = s;
        row.mode = mode;
        row.nodes = n;
        row.ranks = n * o.nproc_per_node;
        row.global_batch = run.global_batch;
        row.measured = timeSplit(run.dir + "/node0.log");
        row.samples_per_sec = double(run.global_batch) / (row.measured.step_ms / 1e3);
        if (n == 1) {
          one_node_rate = row.samples_per_sec;
          // The one-node run is the predictor's profile (weak scaling keeps its batch).
          if (link && mode == "weak")
            predictor.emplace(readNodeProfile(run.dir + "/output/profile.json"), *link);
        }
        row.efficiency = row.samples_per_sec / (double(n) * one_node_rate);
        if (predictor) row.predicted = predictor->predict(n);
        rows.push_back(row);
      }
    }
  }
  const std::string link_text = link ? describeLink(*link) + " " + link->source : "none";
  log::out("# trainrun bench scaling: " + o.config_path + ", " + std::to_string(o.nproc_per_node) +
           " rank(s) per node, " + std::to_string(o.steps) +
           " steps per run (medians of rank 0's steps after 3), link model: " + link_text);
  for (const std::string& line : formatScalingTable(rows)) log::out(line);
  if (!o.json_path.empty())
    writeFileAtomic(o.json_path, formatScalingJson(rows, o.config_path, link_text));
  if (!o.plot_path.empty()) {
    plotScaling(rows,
                "trainrun bench scaling: " + fs::path(o.config_path).filename().string() +
                    (link ? " (link model " + describeLink(*link) + ")" : ""),
                o.plot_path);
    log::out("wrote " + o.plot_path);
  }
  return 0;
}

int runPredictBench(const std::vector<std::string>& args, const std::string& trainrun) {
  if (printedHelp(args)) return 0;
  ScalingOptions o = parseScalingArgs(args, /*predict=*/true);
  const LinkModel link = linkFromFlag(o.link);
  const int64_t batch = o.profile_path.empty() ? configuredBatch(o) : 0;
  if (o.out_dir == "bench-scaling") o.out_dir = "bench-predict";
  const Predictor predictor(profileOneNode(o, trainrun, batch), link);
  const NodeProfile& p = predictor.profile();
  log::out(
      "# trainrun bench predict: " + (o.profile_path.empty() ? o.config_path : o.profile_path) +
      "; profile: 1 node x " + std::to_string(p.world_size) + " rank(s), " +
      std::to_string(p.steps) + " steps, step " + fixed("%.2f", p.phases.step_ms) +
      " ms (backward " + fixed("%.2f", p.phases.backward_ms) + " ms); link " + describeLink(link) +
      " " + link.source + "; weak scaling, ring all-reduce");
  char line[300];
  const char* head = "%-8s %6s %7s %7s %9s %9s %9s %11s %6s  %s";
  std::snprintf(line, sizeof(line), head, "# nodes", "ranks", "batch", "buckets", "step", "comm",
                "exposed", "throughput", "eff", "best knob");
  log::out(line);
  std::snprintf(line, sizeof(line), head, "#", "", "", "", "ms", "ms", "ms", "samples/s", "", "");
  log::out(line);
  std::vector<Suggestion> suggestions;
  for (int64_t n : o.nodes) suggestions.push_back(predictor.suggest(n));
  for (const Suggestion& s : suggestions) {
    const Prediction& w = s.without;
    std::snprintf(line, sizeof(line), "%8lld %6lld %7lld %7lld %9.2f %9.2f %9.2f %11.1f %6.2f  %s",
                  static_cast<long long>(w.nodes), static_cast<long long>(w.ranks),
                  static_cast<long long>(w.global_batch), static_cast<long long>(w.buckets),
                  w.step_ms, w.comm_ms, w.exposed_ms, w.samples_per_sec, w.efficiency,
                  s.setting.empty() ? "-" : s.setting.c_str());
    log::out(line);
  }
  for (const Suggestion& s : suggestions)
    log::out("at " + std::to_string(s.without.nodes) +
             " nodes: " + (s.setting.empty() ? "" : s.setting + ": ") + s.why);
  if (!o.json_path.empty()) {
    nlohmann::json out = {{"benchmark", "predict"},
                          {"link",
                           {{"bytes_per_s", link.bytes_per_s},
                            {"latency_s", link.latency_s},
                            {"source", link.source}}}};
    for (const Suggestion& s : suggestions) {
      out["rows"].push_back({{"nodes", s.without.nodes},
                             {"step_ms", s.without.step_ms},
                             {"exposed_ms", s.without.exposed_ms},
                             {"efficiency", s.without.efficiency},
                             {"samples_per_sec", s.without.samples_per_sec},
                             {"suggestion", s.setting},
                             {"suggested_step_ms", s.with.step_ms},
                             {"suggested_samples_per_sec", s.with.samples_per_sec},
                             {"why", s.why}});
    }
    writeFileAtomic(o.json_path, out.dump(2) + "\n");
  }
  return 0;
}

}  // namespace trainrun::bench
