// Nodes meeting at the rendezvous store (node 0's TCPStore, or etcd): node ranks (given or by
// arrival), who is where, who decides membership, and the job-wide failure flag every node's
// agent watches.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "launch/node_plan.h"
#include "launch/rdzv_token.h"
#include "launch/worker_spec.h"
#include "store/generation.h"
#include "store/store.h"
#include "store/store_keys.h"

namespace trainrun::launch {

struct NodeRendezvousOptions {
  int nnodes = 1;      // at most this many nodes
  int min_nodes = -1;  // < nnodes: elastic nodes (node 0 re-plans as nodes come and go); -1: nnodes
  int node_rank = -1;  // -1: by arrival (the hosting node is 0; with etcd the first to arrive)
  int nproc_per_node = 1;
  StoreBackend backend = StoreBackend::kTcp;  // kEtcd: etcd at `endpoint`, no node hosts
  Endpoint endpoint;                          // node 0's store, or etcd
  std::string endpoint_from;                  // what named the endpoint (NodePlan's), for errors
  bool host = false;   // this node hosts the store on endpoint.addr:port only (a taken port is an
                       // error); planNodes makes endpoint.addr the address it chose
  std::string run_id;  // keys live under rdzv/<run_id>/<key_digest>/
  std::string key_digest;  // tokenDigest("keys"): only token holders know the run's key names
  std::string verifier;    // tokenDigest("verify"): the host (etcd: the first) publishes it
  std::string local_addr;  // how the other nodes reach this one
  std::chrono::milliseconds join_timeout{std::chrono::minutes(10)};
  // Elastic: once min_nodes are in, how long node 0 waits for up to nnodes before starting.
  std::chrono::milliseconds last_call{std::chrono::seconds(30)};
  std::chrono::milliseconds store_timeout{std::chrono::minutes(5)};  // the group's deadline
  // A node whose heartbeat has not changed for this long is gone (killed, or unreachable).
  // With etcd it is also the TTL of the leader's lease.
  std::chrono::milliseconds heartbeat_timeout{std::chrono::seconds(5)};
  // Preemptions come to a whole fleet within seconds: a node that leaves waits this long for
  // the others to say they leave too (then all save an emergency checkpoint together), and the
  // membership drops a leaving node only after it (unless every member is leaving).
  std::chrono::milliseconds leave_window{std::chrono::seconds(2)};
};

// The options of `plan`'s node: its place, the store's endpoint, and the key digest and
// verifier of `token`. The deadlines and last_call keep their defaults.
NodeRendezvousOptions nodeRendezvousOptions(const NodePlan& plan, const RdzvToken& token);

// This node's place in the job, and its handle on the shared store.
//
// Elastic nodes (min_nodes < nnodes): node ranks are node ids given in order of arrival (a
// node that comes back gets a new one). Node 0 starts the job with the nodes in after
// last_call (or all nnodes at once), writing generation 0's GroupPlan for the ranks; a node
// arriving later runs its ranks, which wait for admission. Node 0's poller then keeps the plan:
// a member whose heartbeat stops is dropped and live newcomers are admitted (up to nnodes),
// each change a new generation (launch/node_membership.h); fewer than min_nodes is the job's
// failure. Other nodes never judge their peers; losing node 0 (the store) ends the job.
//
// With etcd (backend kEtcd) no node hosts the store and no node is special: membership is
// decided by the leader, the node holding the "leader" key under a lease whose TTL is
// heartbeat_timeout. Every node's poller tries to take the key each round; the leader's renews
// its lease. The first leader forms the job; when a leader dies its lease lapses, another node
// takes the key and carries on from the newest GroupPlan and generation in etcd, so losing
// node 0 costs what losing any node costs. Only a lost etcd ends the job.
class NodeRendezvous {
 public:
  // Hosts or joins the store, checks the token, takes a node rank, publishes this node and
  // waits for all nnodes. Throws ConfigError for a wrong token (the host prints one line
  // about the refused node and goes on), a taken port, a node rank claimed twice, too many
  // nodes or differing --nproc-per-node; TimeoutError naming the missing node ranks (and who
  // arrived) after join_timeout; CommError when the store cannot be reached.
  explicit NodeRendezvous(const NodeRendezvousOptions& options);

  int nodeRank() const { return node_rank_; }
  // The key prefix the ranks' store handles get (TRAINRUN_STORE_PREFIX).
  std::string rankStorePrefix() const { return prefix_ + kRanksPrefix; }
  const std::vector<std::string>& nodeAddrs() const { return addrs_; }  // by node rank

  ~NodeRendezvous();

  // Records the first failure of the job ("node 1 rank 3 failed first: exit code 1"); later
  // ones are dropped. Returns at once (a background thread writes it).
  void reportFailure(const std::string& what);
  // The job's first failure, or "" if none. Never blocks: a background thread heartbeats
  // this node once a second, reads the others' heartbeats and the failure key. A node whose
  // heartbeat stopped is recorded as the first failure ("node 2 (ADDR) failed first: its
  // agent stopped heartbeating ..."), so every node names the same culprit; when the store
  // itself stops answering, that is the failure ("node 0's rendezvous store ... is
  // unreachable"). A cut link or a dead host cannot stall the agent.
  std::string failure();
  // Elastic nodes: this node is about to stop its ranks (SIGTERM, a spot notice): node 0
  // re-forms the group without it at its next poll instead of waiting for the heartbeat to go
  // stale. Returns at once; best effort (a lost store changes nothing).
  void leave();
  // Asked when this node leaves on a preemption, after leave(): whether every other node of
  // the job (elastic: every current member) is leaving too, waiting up to leave_window (less
  // when `deadline` is nearer) for them. Then the job's state would exist nowhere once they are
  // gone, and all nodes save an emergency checkpoint together. False when the store is gone.
  bool othersLeaving(std::chrono::system_clock::time_point deadline);
  // Marks this node finished; the hosting node waits (at most `timeout`) for every other
  // node to finish or go silent, so its store outlives their last use of it. With etcd no
  // node waits for the others: etcd outlives them all.
  void finish(std::chrono::milliseconds timeout);

 private:
  struct PollerState;  // what the background thread shares with us (it may outlive us)
  class Poller;        // the background thread: heartbeat, leader lease, membership, failures
  // The constructor's phases: host or reach the store, prove the token, take a node rank and
  // publish this node; then form or join an elastic job, or wait for every fixed node.
  void openStore();
  void checkToken();
  // etcd keeps a run's keys after it ends: a node arriving at a run that failed, or whose
  // nodes all finished or left, is refused in one line (ConfigError) rather than joining it.
  void refuseEndedRun();
  void claimNodeRank();
  void joinElasticJob();
  void waitForAllNodes();
  void startPoller();
  std::string key(const std::string& name) const { return prefix_ + name; }
  bool elasticNodes() const {
    return options_.min_nodes >= 1 && options_.min_nodes < options_.nnodes;
  }
  // The leader: waits for the first nodes, writes generation 0's plan. False if (etcd) this
  // node lost its leadership meanwhile: another node forms the job.
  bool formElasticJob();
  bool etcd() const { return options_.backend == StoreBackend::kEtcd; }
  // Node ids handed out so far: arrivals (etcd counts every node; a host is node 0 uncounted).
  int knownNodes(Store& store) const;
  // The leader key: etcd only; renews this node's lease, true while it leads.
  bool holdLeadership(Store& store) const;
  // Where this node's own extra handles connect.
  std::string storeAddr() const;

  NodeRendezvousOptions options_;
  std::string prefix_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Store> ranks_store_;  // elastic node 0: the ranks' keys (their prefix)
  GroupPlan initial_plan_;              // elastic node 0: generation 0's nodes
  int node_rank_ = -1;
  std::vector<std::string> addrs_;
  std::shared_ptr<PollerState> poller_;
};

}  // namespace trainrun::launch
