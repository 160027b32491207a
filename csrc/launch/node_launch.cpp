// NodeLaunch: the phases of one node's launch, shared by single- and multi-node jobs.
#include "launch/node_launch.h"

#include <c10/util/Logging.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "core/clock.h"
#include "core/env.h"
#include "core/file.h"
#include "launch/run_summary.h"
#include "launch/worker_spec.h"
#include "store/generation.h"

extern char** environ;

namespace trainrun::launch {

namespace {

// --max-restarts (or elastic nodes) with a CONFIG: ranks join generations and failed ones are
// respawned.
bool elastic(const LaunchOptions& opts) {
  return (opts.max_restarts > 0 || opts.min_nnodes < opts.nnodes) && !opts.config_path.empty();
}

}  // namespace

NodeLaunch::NodeLaunch(LaunchOptions opts, NodePlan plan, std::chrono::milliseconds timeout,
                       SignalWatch& signals, EnvLookup lookup_env)
    : opts_(std::move(opts)),
      plan_(std::move(plan)),
      timeout_(timeout),
      signals_(signals),
      env_(std::move(lookup_env)),
      // On a preemption, a single node's ranks save an emergency checkpoint: nobody else holds
      // the job's state. With several nodes, only when every other node is leaving too (the
      // rendezvous, once it exists, says so).
      preemption_(
          [this](std::chrono::system_clock::time_point deadline) {
            return oneNode() || (node_rendezvous_ && node_rendezvous_->othersLeaving(deadline));
          },
          env_(env::kFsRoot)) {
  opts_.nnodes = plan_.nnodes;
  opts_.min_nnodes = plan_.min_nnodes;
  opts_.nproc_per_node = plan_.nproc_per_node;
  opts_.rdzv_id = plan_.run_id;
}

NodeLaunch::~NodeLaunch() = default;

NodeLaunch::Outcome NodeLaunch::run() {
  // Its folder before any rank runs: a --log-dir that cannot take it is one line, exit 2.
  logs_ = std::make_shared<const RankLogs>(opts_.logs, plan_.run_id);
  if (!logs_->runDir().empty())
    writeLine(STDERR_FILENO, "trainrun: rank logs in " + logs_->runDir());
  meet();
  const std::vector<RankSpec> ranks = makeRankSpecs(opts_, endpoint_, rankEnv());
  AgentResult result = LocalAgent(agentOptions(), signals_).run(ranks);
  if (nodes_) nameFirstFailure(result);
  Outcome outcome{launcherExitCode(result), summaryLine(result, opts_.grace_period)};
  if (!outcome.summary.empty()) writeLine(STDERR_FILENO, outcome.summary);
  if (nodes_) nodes_->finish(opts_.grace_period + std::chrono::seconds(30));
  node_rendezvous_ = nullptr;
  return outcome;
}

void NodeLaunch::meet() {
  if (!oneNode()) return joinNodes();
  hosted_ = hostRendezvous(opts_, timeout_);
  endpoint_ = hosted_.endpoint;
  opts_.node_rank = 0;
}

void NodeLaunch::joinNodes() {
  token_ = rdzvToken(env_, plan_.scheduler, plan_.job_id, plan_.run_id);
  rendezvous_options_ = nodeRendezvousOptions(plan_, token_);
  rendezvous_options_.last_call = opts_.rdzv_last_call;
  rendezvous_options_.join_timeout = opts_.rdzv_timeout;
  rendezvous_options_.store_timeout = timeout_;
  // c10d warns through c10's logging about what this launcher reports itself (a reverse
  // lookup of a peer without DNS, connect retries): errors only.
  FLAGS_caffe2_log_level = c10::GLOG_ERROR;
  nodes_ = std::make_unique<NodeRendezvous>(rendezvous_options_);
  node_rendezvous_ = nodes_.get();
  endpoint_ = plan_.endpoint;
  opts_.node_rank = nodes_->nodeRank();
  opts_.local_addr = plan_.local_addr;
  writeLine(STDERR_FILENO, "trainrun: node " + std::to_string(opts_.node_rank) + " of " +
                               std::to_string(plan_.nnodes) + " (" + plan_.source + "), " +
                               std::to_string(plan_.nproc_per_node) + " rank(s) per node, " +
                               "rendezvous " +
                               (plan_.backend == StoreBackend::kEtcd ? "etcd " : "") +
                               plan_.endpoint.addr + ":" + std::to_string(plan_.endpoint.port) +
                               " run " + plan_.run_id + ", token " + token_.origin);
}

std::vector<std::string> NodeLaunch::rankEnv() const {
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) out.emplace_back(*e);
  out.push_back(preemption_.envEntry());  // where to find a preemption notice
  if (nodes_) {
    out.push_back(std::string(env::kStorePrefix) + "=" + nodes_->rankStorePrefix());
    // MASTER_ADDR/MASTER_PORT name etcd then; the ranks' stores speak its protocol.
    if (plan_.backend == StoreBackend::kEtcd)
      out.push_back(std::string(env::kStoreBackend) + "=etcd");
  }
  if (elastic(opts_)) out.push_back(std::string(env::kElastic) + "=1");
  if (nodes_ && !plan_.interface.empty()) {  // the scheduler's interface, unless the user chose
    out.push_back("GLOO_SOCKET_IFNAME=" + plan_.interface);
    out.push_back("NCCL_SOCKET_IFNAME=" + plan_.interface);
  }
  return out;
}

AgentOptions NodeLaunch::agentOptions() {
  AgentOptions agent;
  agent.logs = logs_;
  agent.grace_period = opts_.grace_period;
  agent.preemption = &preemption_;
  agent.monitor_interval = opts_.monitor_interval;
  // Hang reports need the built-in worker (a CONFIG).
  if (!opts_.config_path.empty()) agent.hang_timeout = timeout_;
  if (elastic(opts_)) restartRanks(agent);
  if (nodes_) watchOtherNodes(agent);
  return agent;
}

void NodeLaunch::restartRanks(AgentOptions& agent) {
  // The ranks' generation counter lives under their key prefix in the store: one node's
  // private store, or node 0's (or etcd).
  Store* store = hosted_.store.get();
  if (nodes_) {
    rank_store_ = Store::connect(plan_.backend, plan_.endpoint.addr, plan_.endpoint.port, timeout_,
                                 nodes_->rankStorePrefix());
    store = rank_store_.get();
  }
  restarts_ = std::make_unique<RankRestarts>(*store, opts_.max_restarts, opts_.node_rank,
                                             opts_.nproc_per_node);
  agent.restart_rank = std::ref(*restarts_);
}

void NodeLaunch::watchOtherNodes(AgentOptions& agent) {
  agent.peer_failure = [this] { return nodes_->failure(); };
  if (agent.hang_timeout.count() > 0) {
    hang_exchange_ = hangExchange();
    agent.hang_exchange = hang_exchange_.get();
  }
  // Leaving (SIGTERM, a spot notice): elastic nodes re-form without this one, and a node that
  // sees every other leave too saves with them (NodePreemption asks othersLeaving).
  agent.on_stop_signal = [this](int) { nodes_->leave(); };
  // Elastic nodes: a node whose rank failed for good leaves; node 0 re-forms without it.
  if (!elasticNodes()) agent.report_failure = [this](const RankFailure& f) { reportFailure(f); };
}

// Hang reports take in every node's ranks: through the ranks' store, with a short deadline
// (the agent's loop must not stall on a cut link).
std::unique_ptr<HangExchange> NodeLaunch::hangExchange() const {
  const int me = opts_.node_rank, nnodes = plan_.nnodes;
  const bool elastic_nodes = elasticNodes();
  return std::make_unique<HangExchange>(
      Store::connect(plan_.backend, plan_.endpoint.addr, plan_.endpoint.port,
                     rendezvous_options_.heartbeat_timeout, nodes_->rankStorePrefix()),
      me, [me, nnodes, elastic_nodes](Store& store) {
        std::vector<int> nodes;
        if (elastic_nodes) {
          if (auto p = latestPlan(store, currentGeneration(store))) nodes = p->nodes;
        } else {
          for (int n = 0; n < nnodes; ++n) nodes.push_back(n);
        }
        nodes.erase(std::remove(nodes.begin(), nodes.end(), me), nodes.end());
        return nodes;
      });
}

void NodeLaunch::reportFailure(const RankFailure& f) {
  // A rank whose peer node vanished fails at once; the vanished node is the culprit. Give its
  // heartbeat time to go stale before blaming this node's rank (not one the hang report found
  // stuck: that one is the culprit).
  const auto until = Clock::now() + (f.hung.empty() ? rendezvous_options_.heartbeat_timeout +
                                                          std::chrono::seconds(2)
                                                    : std::chrono::milliseconds(0));
  while (Clock::now() < until) {
    const std::string first = nodes_->failure();
    if (!first.empty()) return;  // already named (by us, as a dead peer, or by another node)
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  // What the rank said (its error file's line) or why it likely died travels with it, so every
  // node's last line, and SageMaker's failure file on each, names the cause, not only the rank.
  std::string why = f.hung.empty() ? f.status.describe() : "hung (" + f.hung + ")";
  if (f.hung.empty() && !f.error.empty())
    why += ": " + f.error;
  else if (f.hung.empty() && !f.status.hint().empty())
    why += " (" + f.status.hint() + ")";
  nodes_->reportFailure("node " + std::to_string(opts_.node_rank) + " rank " +
                        std::to_string(f.rank) + " failed first: " + why);
}

void NodeLaunch::nameFirstFailure(AgentResult& result) {
  if (elasticNodes() && result.first_failure) {
    nodes_->leave();
    // A rank that lost the store fails at once; the poller needs a few seconds to be sure the
    // store is gone, and that (node 0 lost) is the cause to name.
    const auto until =
        Clock::now() + rendezvous_options_.heartbeat_timeout + std::chrono::seconds(1);
    while (nodes_->failure().empty() && Clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (result.first_failure) {  // another node may have failed before ours: name the first
    const std::string first = nodes_->failure();
    if (!first.empty() && first.find("node " + std::to_string(opts_.node_rank) + " ") != 0) {
      result.peer_failure = first;
      result.first_failure.reset();
    }
  }
}

}  // namespace trainrun::launch
