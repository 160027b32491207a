// trainrun: the launcher's entry point (CLI -> config check -> rendezvous -> local agent).
#include <c10/util/Logging.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_options.h"
#include "bench/scaling.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/error.h"
#include "core/file.h"
#include "core/logging.h"
#include "hang/hang_exchange.h"
#include "launch/agent.h"
#include "launch/cli.h"
#include "launch/init_reaper.h"
#include "launch/node_plan.h"
#include "launch/node_rendezvous.h"
#include "launch/preflight.h"
#include "launch/rank_restarts.h"
#include "launch/rdzv_token.h"
#include "launch/rendezvous.h"
#include "launch/run_summary.h"
#include "launch/signal_watch.h"
#include "launch/worker_spec.h"
#include "pipeline/build_info.h"
#include "pipeline/sagemaker.h"
#include "preemption/node_preemption.h"
#include "store/generation.h"

extern char** environ;

namespace {

std::string lookupEnv(const std::string& name) { return trainrun::env::get(name.c_str()); }

// The agent options every launch shares. Hang reports need the built-in worker (a CONFIG).
trainrun::launch::AgentOptions agentOptions(const trainrun::launch::LaunchOptions& opts,
                                            std::chrono::milliseconds group_timeout,
                                            trainrun::launch::NodePreemption& preemption) {
  trainrun::launch::AgentOptions agent;
  agent.grace_period = opts.grace_period;
  agent.preemption = &preemption;
  agent.monitor_interval = opts.monitor_interval;
  if (!opts.config_path.empty()) agent.hang_timeout = group_timeout;
  return agent;
}

// --max-restarts with a CONFIG: ranks join generations and failed ones are respawned.
bool elastic(const trainrun::launch::LaunchOptions& opts) {
  return (opts.max_restarts > 0 || opts.min_nnodes < opts.nnodes) && !opts.config_path.empty();
}

// The ranks' environment: the launcher's, and where to find a preemption notice.
std::vector<std::string> launcherEnv(const trainrun::launch::NodePreemption& preemption) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  env.push_back(preemption.envEntry());
  return env;
}

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
void useSageMakerJob(trainrun::launch::LaunchOptions& opts) {
  namespace pipeline = trainrun::pipeline;
  const pipeline::SageMakerLayout layout(lookupEnv, lookupEnv(trainrun::env::kFsRoot));
  g_failure_file = layout.failureFile();
  std::error_code ec;
  std::filesystem::remove(g_failure_file, ec);  // a reason left by an earlier attempt
  ::setenv(trainrun::env::kFailureFile, g_failure_file.c_str(), 1);
  pipeline::TrainingJob job = pipeline::sageMakerTrainingJob(layout, pipeline::imageRoot());
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
    const std::string text = allreduce ? trainrun::bench::allreduceUsage() : helpText(args);
    trainrun::log::out(text.substr(0, text.size() - 1));
    return 0;
  }
  if (args.size() >= 2 && args[0] == "bench" && args[1] == "scaling")
    return trainrun::bench::runScalingBench({args.begin() + 2, args.end()},
                                            besideLauncher("trainrun"));
  if (args.size() >= 2 && args[0] == "bench" && args[1] == "predict")
    return trainrun::bench::runPredictBench({args.begin() + 2, args.end()},
                                            besideLauncher("trainrun"));
  if (!args.empty() && args[0] == "bench") args = benchLaunch(args);
  LaunchOptions opts = parseCommandLine(args, lookupEnv);
  if (opts.help) {
    trainrun::log::out(usageText().substr(0, usageText().size() - 1));
    return 0;
  }
  std::error_code ec;
  if (opts.config_path == kSageMakerCommand && !std::filesystem::exists(opts.config_path, ec))
    useSageMakerJob(opts);
  // Fail on a bad config here, in one line, rather than N times in N ranks.
  std::chrono::milliseconds timeout = kStoreTimeoutWithoutConfig;
  if (!opts.config_path.empty()) {
    const trainrun::config::JobConfig config =
        trainrun::config::loadJobConfig(opts.config_path, opts.overrides);
    timeout = trainrun::config::groupTimeout(config);
    checkJobOnHost(config, lookupEnv, /*root=*/"");
  }
  const NodePlan plan =
      planNodes(opts, detectScheduler(lookupEnv, lookupEnv(trainrun::env::kFsRoot)));
  opts.nnodes = plan.nnodes;
  opts.min_nnodes = plan.min_nnodes;
  opts.nproc_per_node = plan.nproc_per_node;
  opts.rdzv_id = plan.run_id;
  // On a preemption, a single node's ranks save an emergency checkpoint: nobody else holds the
  // job's state. With several nodes, only when every other node is leaving too (the
  // rendezvous, once it exists, says so).
  const bool one_node = plan.nnodes == 1;
  NodeRendezvous* node_rendezvous = nullptr;
  NodePreemption preemption(
      [&](std::chrono::system_clock::time_point deadline) {
        return one_node || (node_rendezvous && node_rendezvous->othersLeaving(deadline));
      },
      lookupEnv(trainrun::env::kFsRoot));

  if (plan.nnodes == 1) {  // one node: a private store, as torchrun --standalone
    HostedRendezvous rendezvous = hostRendezvous(opts, timeout);
    opts.node_rank = 0;
    std::vector<std::string> env = launcherEnv(preemption);
    if (elastic(opts)) env.push_back(std::string(trainrun::env::kElastic) + "=1");
    std::vector<RankSpec> ranks = makeRankSpecs(opts, rendezvous.endpoint, env);
    AgentOptions agent = agentOptions(opts, timeout, preemption);
    RankRestarts restarts(*rendezvous.store, opts.max_restarts, 0, opts.nproc_per_node);
    if (elastic(opts)) agent.restart_rank = std::ref(restarts);
    AgentResult result = LocalAgent(agent, signals).run(ranks);
    std::string summary = summaryLine(result, opts.grace_period);
    if (!summary.empty()) writeLine(STDERR_FILENO, summary);
    return finish(launcherExitCode(result), summary);
  }

  NodeRendezvousOptions ro;
  ro.nnodes = plan.nnodes;
  ro.min_nodes = plan.min_nnodes;
  ro.last_call = opts.rdzv_last_call;
  ro.node_rank = plan.node_rank;
  ro.nproc_per_node = plan.nproc_per_node;
  ro.backend = plan.backend;
  ro.endpoint = plan.endpoint;
  ro.endpoint_from = plan.endpoint_from;
  ro.host = plan.host;
  ro.run_id = plan.run_id;
  const RdzvToken token = rdzvToken(lookupEnv, plan.scheduler, plan.job_id, plan.run_id);
  ro.key_digest = tokenDigest(token, "keys", plan.run_id).substr(0, 32);
  ro.verifier = tokenDigest(token, "verify", plan.run_id);
  ro.local_addr = plan.local_addr;
  ro.join_timeout = opts.rdzv_timeout;
  ro.store_timeout = timeout;
  // c10d warns through c10's logging about what this launcher reports itself (a reverse
  // lookup of a peer without DNS, connect retries): errors only.
  FLAGS_caffe2_log_level = c10::GLOG_ERROR;
  NodeRendezvous rendezvous(ro);
  node_rendezvous = &rendezvous;
  opts.node_rank = rendezvous.nodeRank();
  opts.local_addr = plan.local_addr;
  writeLine(STDERR_FILENO, "trainrun: node " + std::to_string(opts.node_rank) + " of " +
                               std::to_string(plan.nnodes) + " (" + plan.source + "), " +
                               std::to_string(plan.nproc_per_node) + " rank(s) per node, " +
                               "rendezvous " +
                               (plan.backend == trainrun::StoreBackend::kEtcd ? "etcd " : "") +
                               plan.endpoint.addr + ":" + std::to_string(plan.endpoint.port) +
                               " run " + plan.run_id + ", token " + token.origin);
  std::vector<std::string> env = launcherEnv(preemption);
  env.push_back(std::string(trainrun::env::kStorePrefix) + "=" + rendezvous.rankStorePrefix());
  // MASTER_ADDR/MASTER_PORT name etcd then; the ranks' stores speak its protocol.
  if (plan.backend == trainrun::StoreBackend::kEtcd)
    env.push_back(std::string(trainrun::env::kStoreBackend) + "=etcd");
  if (elastic(opts)) env.push_back(std::string(trainrun::env::kElastic) + "=1");
  if (!plan.interface.empty()) {  // the scheduler's interface, unless the user chose one
    env.push_back("GLOO_SOCKET_IFNAME=" + plan.interface);
    env.push_back("NCCL_SOCKET_IFNAME=" + plan.interface);
  }
  std::vector<RankSpec> ranks = makeRankSpecs(opts, plan.endpoint, env);

  AgentOptions agent = agentOptions(opts, timeout, preemption);
  // The ranks' generation counter lives under their key prefix in node 0's store (or etcd).
  std::unique_ptr<trainrun::Store> rank_store;
  std::unique_ptr<RankRestarts> restarts;
  if (elastic(opts)) {
    rank_store = trainrun::Store::connect(plan.backend, plan.endpoint.addr, plan.endpoint.port,
                                          timeout, rendezvous.rankStorePrefix());
    restarts = std::make_unique<RankRestarts>(*rank_store, opts.max_restarts, opts.node_rank,
                                              opts.nproc_per_node);
    agent.restart_rank = std::ref(*restarts);
  }
  agent.peer_failure = [&] { return rendezvous.failure(); };
  const bool elastic_nodes = plan.min_nnodes < plan.nnodes;
  // Hang reports take in every node's ranks: through the ranks' store, with a short deadline
  // (the agent's loop must not stall on a cut link).
  std::unique_ptr<HangExchange> hang_exchange;
  if (agent.hang_timeout.count() > 0) {
    const int me = opts.node_rank, nnodes = plan.nnodes;
    hang_exchange = std::make_unique<HangExchange>(
        trainrun::Store::connect(plan.backend, plan.endpoint.addr, plan.endpoint.port,
                                 ro.heartbeat_timeout, rendezvous.rankStorePrefix()),
        me, [me, nnodes, elastic_nodes](trainrun::Store& store) {
          std::vector<int> nodes;
          if (elastic_nodes) {
            if (auto p = trainrun::latestPlan(store, trainrun::currentGeneration(store)))
              nodes = p->nodes;
          } else {
            for (int n = 0; n < nnodes; ++n) nodes.push_back(n);
          }
          nodes.erase(std::remove(nodes.begin(), nodes.end(), me), nodes.end());
          return nodes;
        });
    agent.hang_exchange = hang_exchange.get();
  }
  // Leaving (SIGTERM, a spot notice): elastic nodes re-form without this one, and a node that
  // sees every other leave too saves with them (NodePreemption asks othersLeaving).
  agent.on_stop_signal = [&](int) { rendezvous.leave(); };
  // Elastic nodes: a node whose rank failed for good leaves; node 0 re-forms without it.
  if (!elastic_nodes)
    agent.report_failure = [&](const RankFailure& f) {
      // A rank whose peer node vanished fails at once; the vanished node is the culprit. Give
      // its heartbeat time to go stale before blaming this node's rank (not one the hang
      // report found stuck: that one is the culprit).
      const auto until =
          trainrun::Clock::now() + (f.hung.empty() ? ro.heartbeat_timeout + std::chrono::seconds(2)
                                                   : std::chrono::milliseconds(0));
      while (trainrun::Clock::now() < until) {
        const std::string first = rendezvous.failure();
        if (!first.empty()) return;  // already named (by us, as a dead peer, or by another node)
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
      rendezvous.reportFailure(
          "node " + std::to_string(opts.node_rank) + " rank " + std::to_string(f.rank) +
          " failed first: " + (f.hung.empty() ? f.status.describe() : "hung (" + f.hung + ")"));
    };
  AgentResult result = LocalAgent(agent, signals).run(ranks);
  if (elastic_nodes && result.first_failure) {
    rendezvous.leave();
    // A rank that lost the store fails at once; the poller needs a few seconds to be sure the
    // store is gone, and that (node 0 lost) is the cause to name.
    const auto until = trainrun::Clock::now() + ro.heartbeat_timeout + std::chrono::seconds(1);
    while (rendezvous.failure().empty() && trainrun::Clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (result.first_failure) {  // another node may have failed before ours: name the first
    const std::string first = rendezvous.failure();
    if (!first.empty() && first.find("node " + std::to_string(opts.node_rank) + " ") != 0) {
      result.peer_failure = first;
      result.first_failure.reset();
    }
  }
  std::string summary = summaryLine(result, opts.grace_period);
  if (!summary.empty()) writeLine(STDERR_FILENO, summary);
  rendezvous.finish(opts.grace_period + std::chrono::seconds(30));
  node_rendezvous = nullptr;
  return finish(launcherExitCode(result), summary);
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
