// trainrun: the launcher's entry point (CLI -> config check -> node plan -> NodeLaunch).
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench_options.h"
#include "bench/scaling.h"
#include "config/config.h"
#include "core/env.h"
#include "core/error.h"
#include "core/file.h"
#include "core/logging.h"
#include "launch/cli.h"
#include "launch/index_command.h"
#include "launch/init_reaper.h"
#include "launch/node_launch.h"
#include "launch/node_plan.h"
#include "launch/preflight.h"
#include "launch/scheduler_env.h"
#include "launch/shard_listings.h"
#include "launch/signal_watch.h"
#include "launch/worker_spec.h"
#include "pipeline/build_info.h"
#include "pipeline/sagemaker.h"

namespace {

std::string lookupEnv(const std::string& name) { return trainrun::env::get(name.c_str()); }

// `trainrun bench allreduce [launcher flags] [benchmark flags]`: the launcher's flags as
// usual, and trainrun-bench as every rank's command, with the benchmark's flags checked here.
std::vector<std::string> benchLaunch(const std::vector<std::string>& args) {
  using namespace trainrun::bench;
  using trainrun::launch::besideLauncher;
  if (args.size() < 2 || args[1] != "allreduce")
    throw trainrun::ConfigError(
        "trainrun bench: give a benchmark: allreduce, scaling or predict (e.g. trainrun bench "
        "allreduce --nproc-per-node 4 -b 8 -e 32M)");
  BenchCommandLine split = splitBenchArgs(std::vector<std::string>(args.begin() + 2, args.end()));
  std::vector<std::string> out = split.launcher_args;
  out.insert(out.end(), {"--", besideLauncher("trainrun-bench"), "allreduce"});
  for (const std::string& a : benchArgv(split.bench)) out.push_back(a);
  return out;
}

// `trainrun train` (SageMaker: `docker run IMAGE train`): failures go to this file too.
std::string g_failure_file;

// `trainrun train`: the job comes from /opt/ml (under TRAINRUN_FS_ROOT); the ranks write their
// failure reason to SageMaker's failure file, the first one's wins.
// `hosts`: the job's instance count (resourceconfig.json, as the scheduler detection read it).
void useSageMakerJob(trainrun::launch::LaunchOptions& opts, int hosts) {
  namespace pipeline = trainrun::pipeline;
  const pipeline::SageMakerLayout layout(lookupEnv, lookupEnv(trainrun::env::kFsRoot));
  g_failure_file = layout.failureFile();
  std::error_code ec;
  std::filesystem::remove(g_failure_file, ec);  // a reason left by an earlier attempt
  ::setenv(trainrun::env::kFailureFile, g_failure_file.c_str(), 1);
  pipeline::TrainingJob job = pipeline::sageMakerTrainingJob(layout, pipeline::imageRoot(), hosts);
  std::string line =
      "trainrun: sagemaker: config " + job.config_path + " (" + job.config_source + ")";
  for (const std::string& note : job.notes) line += "; " + note;
  trainrun::writeLine(STDERR_FILENO, line);
  opts.config_path = job.config_path;
  // The command line's own --set come last, so they win over hyperparameters.
  job.overrides.insert(job.overrides.end(), opts.overrides.begin(), opts.overrides.end());
  opts.overrides = job.overrides;
}

// A failed run's reason for SageMaker, unless a rank wrote its own (more precise) one first.
// A preemption (143) is not a failure: the platform retries the job.
int finish(int exit_code, const std::string& summary) {
  if (exit_code != 0 && exit_code != trainrun::kExitPreempted)
    trainrun::pipeline::writeFailureReason(g_failure_file, summary.substr(summary.find(' ') + 1));
  return exit_code;
}

int launch(std::vector<std::string> args, trainrun::launch::SignalWatch& signals) {
  using namespace trainrun::launch;
  using trainrun::writeLine;
  if (wantsFlag(args, "--version", "-V")) {
    trainrun::log::out(std::string("trainrun ") + trainrun::trainrunVersion() + " (git " +
                       trainrun::trainrunGitRevision() + ")");
    return 0;
  }
  // Each command's own flags (bench scaling and predict print theirs below).
  const bool bench_own_help =
      args.size() >= 2 && args[0] == "bench" && (args[1] == "scaling" || args[1] == "predict");
  if (!bench_own_help && wantsFlag(args, "--help", "-h")) {
    const bool allreduce = args.size() >= 2 && args[0] == "bench" && args[1] == "allreduce";
    const std::string text = allreduce ? trainrun::bench::allreduceUsage()
                             : !args.empty() && args[0] == "index" ? indexUsage()
                                                                   : helpText(args);
    trainrun::log::out(text.substr(0, text.size() - 1));
    return 0;
  }
  if (args.size() >= 2 && args[0] == "bench" && args[1] == "scaling")
    return trainrun::bench::runScalingBench({args.begin() + 2, args.end()},
                                            besideLauncher("trainrun"));
  if (args.size() >= 2 && args[0] == "bench" && args[1] == "predict")
    return trainrun::bench::runPredictBench({args.begin() + 2, args.end()},
                                            besideLauncher("trainrun"));
  if (!args.empty() && args[0] == "index") return runIndexCommand({args.begin() + 1, args.end()});
  if (!args.empty() && args[0] == "bench") args = benchLaunch(args);
  LaunchOptions opts = parseCommandLine(args, lookupEnv);
  if (opts.help) {
    trainrun::log::out(usageText().substr(0, usageText().size() - 1));
    return 0;
  }
  // TLS to etcd: the launcher's store and its ranks' read these (store/store.cpp).
  for (const auto& [name, value] : opts.etcd_tls_env) ::setenv(name.c_str(), value.c_str(), 1);
  // The node layout the scheduler gives (SageMaker's instance count is the job's too).
  const SchedulerJob scheduler = detectScheduler(lookupEnv, lookupEnv(trainrun::env::kFsRoot));
  std::error_code ec;
  if (opts.config_path == kSageMakerCommand && !std::filesystem::exists(opts.config_path, ec))
    useSageMakerJob(opts, std::max(1, scheduler.nnodes));
  // Fail on a bad config here, in one line, rather than N times in N ranks.
  std::chrono::milliseconds timeout = kStoreTimeoutWithoutConfig;
  std::optional<ShardListings> listings;  // token shards: listed once for this node's ranks
  if (!opts.config_path.empty()) {
    const trainrun::config::JobConfig config =
        trainrun::config::loadJobConfig(opts.config_path, opts.overrides);
    timeout = trainrun::config::groupTimeout(config);
    checkJobOnHost(config, lookupEnv, /*root=*/"");
    listings.emplace(config);
  }
  const NodePlan plan = planNodes(opts, scheduler);
  const NodeLaunch::Outcome outcome = NodeLaunch(opts, plan, timeout, signals, lookupEnv).run();
  return finish(outcome.exit_code, outcome.summary);
}

}  // namespace

int main(int argc, char** argv) {
  // As a container's PID 1: a child runs the launcher, this process reaps orphans and forwards
  // signals (before anything else, so no thread or signal mask exists yet).
  if (::getpid() == 1)
    if (std::optional<int> code = trainrun::launch::runAsInit()) return *code;
  try {
    // First, before the store or the output pump start threads (see SignalWatch).
    trainrun::launch::SignalWatch signals;
    return launch(std::vector<std::string>(argv + 1, argv + argc), signals);
  } catch (const trainrun::Error& e) {
    trainrun::log::error(e.what());
    trainrun::pipeline::writeFailureReason(g_failure_file, e.what());
    return e.exitCode();
  } catch (const std::exception& e) {
    trainrun::log::error(e.what());
    trainrun::pipeline::writeFailureReason(g_failure_file, e.what());
    return 1;
  }
}
