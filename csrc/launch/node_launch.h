// One node's launch, single- and multi-node alike: meet, spawn and watch the ranks, summarize.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hang/hang_exchange.h"
#include "launch/agent.h"
#include "launch/cli.h"
#include "launch/node_plan.h"
#include "launch/node_rendezvous.h"
#include "launch/rank_restarts.h"
#include "launch/rdzv_token.h"
#include "launch/rendezvous.h"
#include "launch/signal_watch.h"
#include "preemption/node_preemption.h"
#include "store/store.h"

namespace trainrun::launch {

// The launch of this node's ranks once the command line, the config and the nodes' plan are
// known, one method per phase. A job of one node meets in a private store (as torchrun
// --standalone); a job of several meets at the NodeRendezvous, and its agent also watches the
// other nodes (their failures, hang reports, leaving). Everything else is one path.
class NodeLaunch {
 public:
  using EnvLookup = std::function<std::string(const std::string&)>;
  // `opts` as parsed (the plan's nnodes, min_nnodes, nproc_per_node and run id replace its own);
  // `timeout` is the group's deadline (dist.timeout_s).
  NodeLaunch(LaunchOptions opts, NodePlan plan, std::chrono::milliseconds timeout,
             SignalWatch& signals, EnvLookup lookup_env);
  ~NodeLaunch();
  NodeLaunch(const NodeLaunch&) = delete;
  NodeLaunch& operator=(const NodeLaunch&) = delete;

  // Runs the ranks to their end and prints the summary line (when there is one).
  struct Outcome {
    int exit_code = 0;    // launcherExitCode()
    std::string summary;  // summaryLine(); "" when all went well
  };
  Outcome run();

 private:
  bool oneNode() const { return plan_.nnodes == 1; }
  bool elasticNodes() const { return plan_.min_nnodes < plan_.nnodes; }
  // One node: hosts its private store. Several: joins the NodeRendezvous and says where.
  void meet();
  void joinNodes();
  // The ranks' environment: the launcher's, the notice file, the store and elastic settings.
  std::vector<std::string> rankEnv() const;
  AgentOptions agentOptions();
  // Elastic jobs (--max-restarts): failed ranks are respawned, counted in the ranks' store.
  void restartRanks(AgentOptions& agent);
  // Several nodes: the others' failures stop this node's ranks, this node's are told to them,
  // hang reports take in every node's ranks, and leaving (SIGTERM, a spot notice) is announced.
  void watchOtherNodes(AgentOptions& agent);
  std::unique_ptr<HangExchange> hangExchange() const;
  void reportFailure(const RankFailure& failure);
  // Several nodes: the job's first failure may be another node's; name that one.
  void nameFirstFailure(AgentResult& result);

  LaunchOptions opts_;
  const NodePlan plan_;
  const std::chrono::milliseconds timeout_;
  SignalWatch& signals_;
  const EnvLookup env_;
  // Asked by the preemption whether every other node leaves too; null until the nodes meet.
  NodeRendezvous* node_rendezvous_ = nullptr;
  NodePreemption preemption_;
  HostedRendezvous hosted_;  // one node
  RdzvToken token_;          // several nodes
  NodeRendezvousOptions rendezvous_options_;
  std::unique_ptr<NodeRendezvous> nodes_;
  Endpoint endpoint_;                       // where the ranks find the store
  std::unique_ptr<Store> rank_store_;       // several nodes: the ranks' keys, for restarts
  std::unique_ptr<RankRestarts> restarts_;  // elastic jobs
  std::unique_ptr<HangExchange> hang_exchange_;
  std::shared_ptr<const RankLogs> logs_;  // where rank streams go (--log-dir, --tee, ...)
};

}  // namespace trainrun::launch
