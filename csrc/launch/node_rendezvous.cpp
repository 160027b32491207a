// NodeRendezvous over the project's Store: claim a rank, publish "addr nproc", wait for all;
// elastic nodes: the leader (the host, or etcd's lease holder) keeps the membership.
#include "launch/node_rendezvous.h"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "core/clock.h"
#include "core/error.h"
#include "core/file.h"
#include "core/strings.h"
#include "launch/node_membership.h"
#include "launch/rendezvous.h"
#include "store/generation.h"
#include "store/store_keys.h"

namespace trainrun::launch {

NodeRendezvousOptions nodeRendezvousOptions(const NodePlan& plan, const RdzvToken& token) {
  NodeRendezvousOptions o;
  o.nnodes = plan.nnodes;
  o.min_nodes = plan.min_nnodes;
  o.node_rank = plan.node_rank;
  o.nproc_per_node = plan.nproc_per_node;
  o.backend = plan.backend;
  o.endpoint = plan.endpoint;
  o.endpoint_from = plan.endpoint_from;
  o.host = plan.host;
  o.run_id = plan.run_id;
  o.key_digest = tokenDigest(token, "keys", plan.run_id).substr(0, 32);
  o.verifier = tokenDigest(token, "verify", plan.run_id);
  o.local_addr = plan.local_addr;
  return o;
}

NodeRendezvous::NodeRendezvous(const NodeRendezvousOptions& o)
    : options_(o), prefix_(rdzvPrefix(o.run_id, o.key_digest)) {
  openStore();
  checkToken();
  if (etcd()) refuseEndedRun();
  claimNodeRank();
  if (elasticNodes())
    joinElasticJob();
  else
    waitForAllNodes();
  startPoller();
}

void NodeRendezvous::openStore() {
  const NodeRendezvousOptions& o = options_;
  const Endpoint& ep = o.endpoint;
  if (o.host) {
    store_ = Store::host(ep.port, o.store_timeout, ep.addr);  // the node's chosen address only
    if (ep.port != 0 && store_->port() != ep.port)
      throw ConfigError("rendezvous port " + std::to_string(ep.port) +
                        " is taken on this node; free it or choose another with --rdzv-endpoint "
                        "HOST:PORT (every node must name the same one)");
    return;
  }
  // The hosting node may start later than this one: keep trying until the join deadline
  // (etcd is started before the job: a refused connection fails in seconds).
  try {
    QuietC10Log quiet;  // a connect retried for minutes: the outcome below is the one line
    store_ = Store::connect(o.backend, ep.addr, ep.port, o.join_timeout);
  } catch (const CommError& e) {
    if (etcd()) throw;
    const std::string from = o.endpoint_from.empty() ? "" : " (" + o.endpoint_from + ")";
    throw CommError("cannot reach the rendezvous at " + ep.addr + ":" + std::to_string(ep.port) +
                    from + " within " + std::to_string(o.join_timeout.count() / 1000) +
                    " s: nothing answered there; start trainrun on node 0, or fix the address (" +
                    "--rdzv-endpoint HOST:PORT names node 0's for every node)");
  }
}

void NodeRendezvous::checkToken() {
  const NodeRendezvousOptions& o = options_;
  const Endpoint& ep = o.endpoint;
  const std::string open_prefix = rdzvOpenPrefix(o.run_id);  // readable without the token
  bool token_ok = true;
  if (o.host) {
    store_->set(open_prefix + kVerifierKey, o.verifier);
  } else if (etcd()) {  // the first node to arrive publishes it
    token_ok = store_->compareSet(open_prefix + kVerifierKey, "", o.verifier) == o.verifier;
  } else {
    token_ok = store_->get(open_prefix + kVerifierKey, o.join_timeout) == o.verifier;
  }
  if (token_ok) return;
  const int64_t n = store_->add(open_prefix + kRefusedKey, 1);
  store_->set(open_prefix + refusedKey(n), o.local_addr);
  throw ConfigError("run '" + o.run_id + "' at " + ep.addr + ":" + std::to_string(ep.port) +
                    " refused this node: its rendezvous token differs from " +
                    (etcd() ? "the first node's" : "node 0's") +
                    "; give every node the same TRAINRUN_RDZV_TOKEN (or token file)");
}

void NodeRendezvous::refuseEndedRun() {
  const NodeRendezvousOptions& o = options_;
  std::string how;
  if (store_->check({key(kFailureKey)})) {
    how = "it failed (" + store_->get(key(kFailureKey)) + ")";
  } else if (!elasticNodes() || store_->check({key(kFormedKey)})) {
    const int known =
        elasticNodes() ? static_cast<int>(store_->add(key(kArrivalsKey), 0)) : o.nnodes;
    bool over = known > 0;  // every node that took part finished, or left
    for (int r = 0; r < known && over; ++r)
      over = store_->check({key(doneKey(r))}) || store_->check({key(leftKey(r))});
    if (over) how = "it ended (every node finished or left)";
  }
  if (how.empty()) return;
  throw ConfigError("run '" + o.run_id + "' on etcd at " + o.endpoint.addr + ":" +
                    std::to_string(o.endpoint.port) + " ran before, and " + how +
                    "; etcd keeps its keys: give this launch its own --rdzv-id, or clear the "
                    "old run with etcdctl del --prefix rdzv/" +
                    o.run_id + "/");
}

void NodeRendezvous::claimNodeRank() {
  const NodeRendezvousOptions& o = options_;
  node_rank_ = o.node_rank;
  if (node_rank_ < 0 && etcd())
    node_rank_ = static_cast<int>(store_->add(key(kArrivalsKey), 1)) - 1;
  if (node_rank_ < 0) node_rank_ = o.host ? 0 : static_cast<int>(store_->add(key(kArrivalsKey), 1));
  if (!elasticNodes() && node_rank_ >= o.nnodes)
    throw ConfigError("more nodes joined run '" + o.run_id + "' than --nnodes " +
                      std::to_string(o.nnodes) + " (this one would be node " +
                      std::to_string(node_rank_) + "); check --nnodes on every node");
  if (store_->add(key(claimKey(node_rank_)), 1) != 1)
    throw ConfigError("node rank " + std::to_string(node_rank_) + " of run '" + o.run_id +
                      "' is claimed by another node too; give each node its own --node-rank");
  store_->set(key(nodeKey(node_rank_)), o.local_addr + " " + std::to_string(o.nproc_per_node));
}

void NodeRendezvous::joinElasticJob() {
  const NodeRendezvousOptions& o = options_;
  if (o.host) formElasticJob();
  if (etcd()) {  // whoever leads first forms the job; if it dies meanwhile, the next one
    const Clock::time_point deadline = Clock::now() + o.join_timeout;
    while (!store_->check({key(kFormedKey)})) {
      if (holdLeadership(*store_) && formElasticJob()) break;
      if (Clock::now() > deadline)
        throw TimeoutError("rendezvous of run '" + o.run_id + "' timed out after " +
                           std::to_string(o.join_timeout.count() / 1000) +
                           " s: no node formed the job; raise --rdzv-conf timeout=S");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  if (!o.host && store_->get(key(kFormedKey), o.join_timeout) != std::to_string(o.nproc_per_node)) {
    throw ConfigError("node 0 of run '" + o.run_id + "' runs another --nproc-per-node than " +
                      "this node's " + std::to_string(o.nproc_per_node) +
                      "; every node must run the same number of ranks");
  }
}

void NodeRendezvous::waitForAllNodes() {
  const NodeRendezvousOptions& o = options_;
  // Wait for every node, naming the missing ones at the deadline.
  std::vector<std::string> all;
  for (int r = 0; r < o.nnodes; ++r) all.push_back(key(nodeKey(r)));
  const Clock::time_point deadline = Clock::now() + o.join_timeout;
  while (!store_->check(all)) {
    if (Clock::now() > deadline) {
      std::vector<std::string> missing, arrived;
      for (int r = 0; r < o.nnodes; ++r) {
        if (store_->check({all[r]})) {
          const std::string v = store_->get(all[r]);
          arrived.push_back(std::to_string(r) + " (" + v.substr(0, v.find(' ')) + ")");
        } else {
          missing.push_back(std::to_string(r));
        }
      }
      throw TimeoutError("rendezvous of run '" + o.run_id + "' timed out after " +
                         std::to_string(o.join_timeout.count() / 1000) + " s: node(s) " +
                         joinNames(missing) + " of " + std::to_string(o.nnodes) +
                         " never arrived (arrived: node " + joinNames(arrived) +
                         "); start trainrun on every node, or raise --rdzv-conf timeout=S");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (int r = 0; r < o.nnodes; ++r) {
    std::istringstream in(store_->get(all[r]));
    std::string addr;
    int nproc = 0;
    in >> addr >> nproc;
    if (nproc != o.nproc_per_node)
      throw ConfigError("node " + std::to_string(r) + " runs --nproc-per-node " +
                        std::to_string(nproc) + " but this node " +
                        std::to_string(o.nproc_per_node) +
                        "; every node must run the same number of ranks");
    addrs_.push_back(addr);
  }
}

int NodeRendezvous::knownNodes(Store& store) const {
  return static_cast<int>(store.add(key(kArrivalsKey), 0)) + (etcd() ? 0 : 1);
}

bool NodeRendezvous::holdLeadership(Store& store) const {
  return store.holdLease(key(kLeaderKey), std::to_string(node_rank_), options_.heartbeat_timeout);
}

bool NodeRendezvous::formElasticJob() {
  const NodeRendezvousOptions& o = options_;
  const Clock::time_point start = Clock::now(), deadline = start + o.join_timeout;
  Clock::time_point min_reached = Clock::time_point::max();
  std::vector<int> present;
  while (true) {
    if (etcd() && !holdLeadership(*store_)) return false;  // stalled: another node leads now
    present.clear();
    const int known = knownNodes(*store_);
    for (int id = 0; id < known && static_cast<int>(present.size()) < o.nnodes; ++id)
      if (store_->check({key(nodeKey(id))})) present.push_back(id);
    const int n = static_cast<int>(present.size());
    if (n >= o.min_nodes && min_reached == Clock::time_point::max()) min_reached = Clock::now();
    if (n >= o.nnodes || Clock::now() - min_reached >= o.last_call) break;
    if (Clock::now() > deadline)
      throw TimeoutError("rendezvous of run '" + o.run_id + "' timed out after " +
                         std::to_string(o.join_timeout.count() / 1000) +
                         " s: " + std::to_string(n) + " node(s) arrived, --nnodes needs at least " +
                         std::to_string(o.min_nodes) +
                         "; start trainrun on more nodes, or raise --rdzv-conf timeout=S");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  GroupPlan plan;
  plan.nproc = o.nproc_per_node;
  for (int id : present) {
    std::istringstream in(store_->get(key(nodeKey(id))));
    std::string addr;
    int nproc = 0;
    in >> addr >> nproc;
    if (nproc != o.nproc_per_node) continue;  // refused below, by its own check of "formed"
    plan.nodes.push_back(id);
  }
  ranks_store_ = Store::connect(o.backend, o.endpoint.addr, store_->port(), o.store_timeout,
                                rankStorePrefix());
  ranks_store_->set(planKey(0), formatPlan(plan));
  initial_plan_ = plan;
  store_->set(key(kFormedKey), std::to_string(o.nproc_per_node));
  writeLine(STDERR_FILENO, "trainrun: starting with " + std::to_string(plan.nodes.size()) +
                               " node(s) of --nnodes " + std::to_string(o.min_nodes) + ":" +
                               std::to_string(o.nnodes) + "; nodes that come later are admitted " +
                               "at a step boundary");
  return true;
}

// What the poller thread shares with the agent.
struct NodeRendezvous::PollerState {
  std::mutex mu;
  std::string failure;  // the job's first failure, once known
  std::string report;   // this node's failure, to publish
  bool done = false;    // publish this node's done key
  bool done_written = false;
  bool all_finished = false;      // every other node done or silent (host's exit condition)
  Clock::time_point last_answer;  // the store's last answer to this node (a heartbeat taken)
  bool stop = false;
};

// The poller thread: every 500 ms one round of its duties, one method each: the heartbeat, the
// leader lease (etcd), failure detection (heartbeats gone stale, members leaving), membership
// (the leader's new generations), and publishing the job's first failure. It owns its own store
// connection (short deadline) and copies of what it needs: the thread is detached, as a call
// stuck on a cut link must not hold up the exit, so it may outlive the NodeRendezvous.
class NodeRendezvous::Poller {
 public:
  Poller(const NodeRendezvous& rdzv, std::shared_ptr<PollerState> state)
      : state_(std::move(state)),
        o_(rdzv.options_),
        prefix_(rdzv.prefix_),
        me_(rdzv.node_rank_),
        addrs_(rdzv.addrs_),
        port_(rdzv.store_->port()),
        elastic_(rdzv.elasticNodes()),
        etcd_(rdzv.etcd()),
        plan_(rdzv.initial_plan_),
        formed_here_(!plan_.nodes.empty()) {}

  void run() {
    while (!stopped()) {
      try {
        round();
      } catch (const std::exception&) {
        store_.reset();  // reconnect next round; last_answer ages meanwhile
        led_ = false;    // and re-read the plan if this node (still) leads then
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }

 private:
  // Who is alive this round, as failure detection sees it.
  struct Liveness {
    std::set<int> alive;       // elastic: members and newcomers still heartbeating, or done
    bool all_finished = true;  // every other node done or silent
    std::string dead;          // fixed nodes: the first whose heartbeat went stale
  };
  struct Seen {  // a node's heartbeat value and since when it has not changed
    std::string value;
    Clock::time_point since;
  };

  bool stopped() const {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->stop;
  }

  void round() {
    connect();
    const bool leading = holdLeaderLease();
    std::string report;
    bool done = false;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      report = state_->report;
      done = state_->done;
    }
    heartbeat(done);
    answered();  // the store took this round's first write: it answers, however long the rest
    const Liveness live = detectFailures(Clock::now());
    if (report.empty()) report = live.dead;
    keepMembership(leading, live.alive, &report);
    announceRefusedNodes(leading);
    const std::string failure = publishFailure(report);
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->failure = failure;
    state_->all_finished = live.all_finished;
    state_->done_written = done;
    state_->last_answer = Clock::now();
  }

  void answered() {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->last_answer = Clock::now();
  }

  std::string storeAddr() const {
    return o_.endpoint.addr.empty() ? o_.local_addr : o_.endpoint.addr;
  }
  std::chrono::milliseconds shortDeadline() const {
    return std::min(o_.heartbeat_timeout, o_.store_timeout);
  }
  void connect() {
    if (!store_) store_ = Store::connect(o_.backend, storeAddr(), port_, shortDeadline());
  }

  // Who decides membership: the host; with etcd, the holder of the leader lease, renewed each
  // round. A node that takes the lease over carries on from the newest plan in etcd.
  bool holdLeaderLease() {
    const bool leading =
        elastic_ &&
        (etcd_ ? store_->holdLease(key(kLeaderKey), std::to_string(me_), o_.heartbeat_timeout)
               : o_.host);
    if (leading && !ranks_)
      ranks_ =
          Store::connect(o_.backend, storeAddr(), port_, shortDeadline(), prefix_ + kRanksPrefix);
    if (etcd_ && leading && !led_) {
      // Taking over (or starting): carry on from the newest plan and generation in etcd.
      const int64_t g = currentGeneration(*ranks_);
      if (const std::optional<GroupPlan> current = latestPlan(*ranks_, g)) plan_ = *current;
      if (!formed_here_)  // the node that formed the job said so already
        writeLine(STDERR_FILENO, "trainrun: node " + std::to_string(me_) +
                                     " leads the job's membership now (generation " +
                                     std::to_string(g) + ", " + std::to_string(plan_.nodes.size()) +
                                     " node(s))");
      formed_here_ = false;
    }
    led_ = leading;
    return leading;
  }

  void heartbeat(bool done) {
    store_->set(key(heartbeatKey(me_)), std::to_string(++beats_));
    if (done) store_->set(key(doneKey(me_)), "1");
  }

  bool member(int id) const {
    return std::find(plan_.nodes.begin(), plan_.nodes.end(), id) != plan_.nodes.end();
  }

  // Leaving members (SIGTERM, a spot notice, a failed rank): gone leave_window after they said
  // so, unless every member leaves (then they save together and the job ends).
  std::set<int> goneMembers(Clock::time_point now) {
    std::set<int> gone;
    if (!elastic_) return gone;
    bool all_leaving = true;
    for (int id : plan_.nodes) {
      if (!store_->check({key(leftKey(id))})) {
        all_leaving = false;
        continue;
      }
      const auto seen = left_since_.emplace(id, now).first->second;
      if (now - seen >= o_.leave_window) gone.insert(id);
    }
    if (all_leaving) gone.clear();
    return gone;
  }

  // Who is alive: a heartbeat unchanged for heartbeat_timeout, without a done key, is not.
  Liveness detectFailures(Clock::time_point now) {
    Liveness live;
    live.alive.insert(me_);
    const int known = elastic_
                          ? static_cast<int>(store_->add(key(kArrivalsKey), 0)) + (etcd_ ? 0 : 1)
                          : o_.nnodes;
    const std::set<int> gone = goneMembers(now);
    for (int r = 0; r < known; ++r) {
      if (r == me_) continue;
      // A node that left is gone even once it says it is done.
      if (gone.count(r)) continue;
      if (elastic_ && !member(r) && store_->check({key(leftKey(r))})) continue;
      if (store_->check({key(doneKey(r))})) {
        live.alive.insert(r);
        continue;
      }
      const std::string hb = key(heartbeatKey(r));
      const std::string value = store_->check({hb}) ? store_->get(hb) : "";
      if (!seen_.count(r)) seen_[r] = Seen{"", now};
      if (value != seen_[r].value) seen_[r] = Seen{value, now};
      if (now - seen_[r].since <= o_.heartbeat_timeout) {
        live.all_finished = false;
        if (!value.empty() || member(r)) live.alive.insert(r);
      } else if (live.dead.empty() && !elastic_) {
        live.dead = "node " + std::to_string(r) + " (" + addrs_[r] + ") failed first: its agent " +
                    "stopped heartbeating for " +
                    std::to_string(o_.heartbeat_timeout.count() / 1000) +
                    " s (killed, or its host or link is down)";
      }
    }
    return live;
  }

  // The leader of an elastic job: lost members leave, newcomers join, as a new generation;
  // fewer than min_nodes is the job's failure (into *report, unless it holds one already).
  void keepMembership(bool leading, const std::set<int>& alive, std::string* report) {
    if (!leading) return;
    std::string why;
    const std::optional<GroupPlan> next = nextPlan(plan_, alive, o_.nnodes, &why);
    if (next && static_cast<int>(next->nodes.size()) < o_.min_nodes && report->empty()) {
      *report = why + ": " + std::to_string(next->nodes.size()) + " node(s) left, fewer than " +
                "--nnodes " + std::to_string(o_.min_nodes) + ":" + std::to_string(o_.nnodes);
    } else if (next) {
      const bool lost = std::any_of(plan_.nodes.begin(), plan_.nodes.end(),
                                    [&](int id) { return !alive.count(id); });
      const int64_t g = publishPlan(*ranks_, *next, why, !lost);
      plan_ = *next;
      writeLine(STDERR_FILENO, "trainrun: " + why + "; the job goes on with " +
                                   std::to_string(plan_.nodes.size()) +
                                   " node(s), world_size=" + std::to_string(plan_.worldSize()) +
                                   " (generation " + std::to_string(g) + ")");
    }
  }

  // The host (etcd: the leader, or node 0 of a fixed set) says when a node with a wrong token
  // knocked (it was refused; we go on).
  void announceRefusedNodes(bool leading) {
    const std::string open = rdzvOpenPrefix(o_.run_id);
    const bool speaks = o_.host || (etcd_ && (elastic_ ? leading : me_ == 0));
    if (!speaks || !store_->check({open + kRefusedKey})) return;
    const int64_t refused = store_->add(open + kRefusedKey, 0);
    for (; told_ < refused; ++told_) {
      const std::string who = store_->get(open + refusedKey(told_ + 1));
      writeLine(STDERR_FILENO, "trainrun: refused a node at " + who + " that joined run '" +
                                   o_.run_id + "' with a wrong rendezvous token; the run goes on");
    }
  }

  // Records this node's report as the job's first failure unless one is in; returns the first.
  std::string publishFailure(const std::string& report) {
    if (!report.empty() && !store_->check({key(kFailureKey)}) &&
        store_->add(key(kFailuresKey), 1) == 1)
      store_->set(key(kFailureKey), report);
    return store_->check({key(kFailureKey)}) ? store_->get(key(kFailureKey)) : "";
  }

  std::string key(const std::string& name) const { return prefix_ + name; }

  const std::shared_ptr<PollerState> state_;
  const NodeRendezvousOptions o_;
  const std::string prefix_;
  const int me_;
  const std::vector<std::string> addrs_;  // by node rank (fixed nodes)
  const uint16_t port_;
  const bool elastic_;
  const bool etcd_;
  GroupPlan plan_;    // the leader of an elastic job keeps it
  bool formed_here_;  // this node formed the job (it said so then)
  std::unique_ptr<Store> store_, ranks_;
  bool led_ = false;  // this node led the membership in the previous round
  std::map<int, Seen> seen_;
  std::map<int, Clock::time_point> left_since_;  // when this poller first saw a node leave
  int64_t beats_ = 0;
  int64_t told_ = 0;  // refused nodes already reported
};

void NodeRendezvous::startPoller() {
  poller_ = std::make_shared<PollerState>();
  poller_->last_answer = Clock::now();
  std::thread([poller = Poller(*this, poller_)]() mutable { poller.run(); }).detach();
}

NodeRendezvous::~NodeRendezvous() {
  if (!poller_) return;
  std::lock_guard<std::mutex> lock(poller_->mu);
  poller_->stop = true;
}

void NodeRendezvous::reportFailure(const std::string& what) {
  std::lock_guard<std::mutex> lock(poller_->mu);
  if (poller_->report.empty()) poller_->report = what;
}

std::string NodeRendezvous::failure() {
  std::lock_guard<std::mutex> lock(poller_->mu);
  if (!poller_->failure.empty()) return poller_->failure;
  if (Clock::now() - poller_->last_answer > options_.heartbeat_timeout && etcd())
    return "etcd at " + options_.endpoint.addr + ":" + std::to_string(options_.endpoint.port) +
           ", the job's rendezvous store, has not answered this node for " +
           std::to_string(options_.heartbeat_timeout.count() / 1000) +
           " s (etcd is down, or this node's link to it is); the job cannot go on without it: "
           "run it again (a scheduler's retry) to resume from the newest checkpoint";
  if (Clock::now() - poller_->last_answer > options_.heartbeat_timeout)
    return "node 0's rendezvous store at " + options_.endpoint.addr + ":" +
           std::to_string(options_.endpoint.port) + " has not answered this node for " +
           std::to_string(options_.heartbeat_timeout.count() / 1000) +
           " s (node 0 is gone, or this node's link is down); the store lives on node 0, so the " +
           "job cannot go on without it: run it again (a scheduler's retry) to resume from the " +
           "newest checkpoint";
  return "";
}

void NodeRendezvous::leave() {
  try {
    store_->set(key(leftKey(node_rank_)), "1");
  } catch (const std::exception&) {
  }
}

bool NodeRendezvous::othersLeaving(std::chrono::system_clock::time_point deadline) {
  const auto left = deadline - std::chrono::system_clock::now();
  const Clock::time_point until =
      Clock::now() + std::min<Clock::duration>(options_.leave_window, left / 10);
  try {
    std::vector<int> others;
    if (elasticNodes()) {
      const std::string addr =
          options_.endpoint.addr.empty() ? options_.local_addr : options_.endpoint.addr;
      std::unique_ptr<Store> ranks = Store::connect(options_.backend, addr, store_->port(),
                                                    options_.heartbeat_timeout, rankStorePrefix());
      if (const auto plan = latestPlan(*ranks, currentGeneration(*ranks))) others = plan->nodes;
    } else {
      for (int r = 0; r < options_.nnodes; ++r) others.push_back(r);
    }
    others.erase(std::remove(others.begin(), others.end(), node_rank_), others.end());
    while (true) {
      others.erase(std::remove_if(others.begin(), others.end(),
                                  [&](int r) { return store_->check({key(leftKey(r))}); }),
                   others.end());
      if (others.empty()) return true;
      if (Clock::now() >= until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  } catch (const std::exception&) {
    return false;
  }
}

void NodeRendezvous::finish(std::chrono::milliseconds timeout) {
  {
    std::lock_guard<std::mutex> lock(poller_->mu);
    poller_->done = true;
  }
  // Non-hosts wait for their done key to be written (briefly); the host serves the store
  // until every node is done or gone.
  const Clock::time_point deadline =
      Clock::now() + (options_.host ? timeout : std::min(timeout, options_.heartbeat_timeout));
  while (Clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(poller_->mu);
      if (poller_->done_written && (!options_.host || poller_->all_finished)) return;
      if (Clock::now() - poller_->last_answer > options_.heartbeat_timeout) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace trainrun::launch
