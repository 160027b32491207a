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
namespace {}  // namespace

NodeRendezvous::NodeRendezvous(const NodeRendezvousOptions& o)
    : options_(o), prefix_(rdzvPrefix(o.run_id, o.key_digest)) {
  const std::string open_prefix = rdzvOpenPrefix(o.run_id);  // readable without the token
  const Endpoint& ep = o.endpoint;
  if (o.host) {
    store_ = Store::host(ep.port, o.store_timeout, ep.addr);  // the node's chosen address only
    if (ep.port != 0 && store_->port() != ep.port)
      throw ConfigError("rendezvous port " + std::to_string(ep.port) +
                        " is taken on this node; free it or choose another with --rdzv-endpoint "
                        "HOST:PORT (every node must name the same one)");
  } else {
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
  bool token_ok = true;
  if (o.host) {
    store_->set(open_prefix + kVerifierKey, o.verifier);
  } else if (etcd()) {  // the first node to arrive publishes it
    token_ok = store_->compareSet(open_prefix + kVerifierKey, "", o.verifier) == o.verifier;
  } else {
    token_ok = store_->get(open_prefix + kVerifierKey, o.join_timeout) == o.verifier;
  }
  if (!token_ok) {
    const int64_t n = store_->add(open_prefix + kRefusedKey, 1);
    store_->set(open_prefix + refusedKey(n), o.local_addr);
    throw ConfigError("run '" + o.run_id + "' at " + ep.addr + ":" + std::to_string(ep.port) +
                      " refused this node: its rendezvous token differs from " +
                      (etcd() ? "the first node's" : "node 0's") +
                      "; give every node the same TRAINRUN_RDZV_TOKEN (or token file)");
  }
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
  if (elasticNodes()) {
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
    if (!o.host &&
        store_->get(key(kFormedKey), o.join_timeout) != std::to_string(o.nproc_per_node)) {
      throw ConfigError("node 0 of run '" + o.run_id + "' runs another --nproc-per-node than " +
                        "this node's " + std::to_string(o.nproc_per_node) +
                        "; every node must run the same number of ranks");
    }
    startPoller();
    return;
  }

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
  startPoller();
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

// What the poller thread shares with the agent. The thread owns its own store connection
// (short deadline) and is detached: a call stuck on a cut link must not hold up the exit.
struct NodeRendezvous::Poller {
  std::mutex mu;
  std::string failure;  // the job's first failure, once known
  std::string report;   // this node's failure, to publish
  bool done = false;    // publish this node's done key
  bool done_written = false;
  bool all_finished = false;      // every other node done or silent (host's exit condition)
  Clock::time_point last_answer;  // last complete round trip with the store
  bool stop = false;
};

void NodeRendezvous::startPoller() {
  poller_ = std::make_shared<Poller>();
  poller_->last_answer = Clock::now();
  auto state = poller_;
  const NodeRendezvousOptions o = options_;
  const std::string prefix = prefix_;
  const int me = node_rank_;
  const std::vector<std::string> addrs = addrs_;
  const uint16_t port = store_->port();
  const bool elastic = elasticNodes();
  const bool etcd = this->etcd();
  GroupPlan plan = initial_plan_;          // the leader of an elastic job keeps it
  bool formed_here = !plan.nodes.empty();  // this node formed the job (it said so then)
  std::thread([state, o, prefix, me, addrs, port, elastic, etcd, plan, formed_here]() mutable {
    std::unique_ptr<Store> store, ranks;
    bool led = false;  // this node led the membership in the previous round
    struct Seen {
      std::string value;
      Clock::time_point since;
    };
    std::map<int, Seen> seen;
    std::map<int, Clock::time_point> left_since;  // when this poller first saw a node leave
    int64_t beats = 0;
    int64_t told = 0;  // refused nodes already reported
    auto key = [&](const std::string& name) { return prefix + name; };
    while (true) {
      {
        std::lock_guard<std::mutex> lock(state->mu);
        if (state->stop) return;
      }
      try {
        const std::string addr = o.endpoint.addr.empty() ? o.local_addr : o.endpoint.addr;
        const auto short_deadline = std::min(o.heartbeat_timeout, o.store_timeout);
        if (!store) store = Store::connect(o.backend, addr, port, short_deadline);
        // Who decides membership: the host; with etcd, the holder of the leader lease.
        const bool leading =
            elastic &&
            (etcd ? store->holdLease(key(kLeaderKey), std::to_string(me), o.heartbeat_timeout)
                  : o.host);
        if (leading && !ranks)
          ranks = Store::connect(o.backend, addr, port, short_deadline, prefix + kRanksPrefix);
        if (etcd && leading && !led) {
          // Taking over (or starting): carry on from the newest plan and generation in etcd.
          const int64_t g = currentGeneration(*ranks);
          if (const std::optional<GroupPlan> current = latestPlan(*ranks, g)) plan = *current;
          if (!formed_here)  // the node that formed the job said so already
            writeLine(STDERR_FILENO, "trainrun: node " + std::to_string(me) +
                                         " leads the job's membership now (generation " +
                                         std::to_string(g) + ", " +
                                         std::to_string(plan.nodes.size()) + " node(s))");
          formed_here = false;
        }
        led = leading;
        std::string report;
        bool done = false;
        {
          std::lock_guard<std::mutex> lock(state->mu);
          report = state->report;
          done = state->done;
        }
        store->set(key(heartbeatKey(me)), std::to_string(++beats));
        if (done) store->set(key(doneKey(me)), "1");
        // Who is alive: a heartbeat unchanged for heartbeat_timeout, without a done key.
        const Clock::time_point now = Clock::now();
        std::string dead;
        bool all_finished = true;
        std::set<int> alive{me};  // elastic: members and newcomers still heartbeating, or done
        const int known = elastic
                              ? static_cast<int>(store->add(key(kArrivalsKey), 0)) + (etcd ? 0 : 1)
                              : o.nnodes;
        // Leaving members (SIGTERM, a spot notice, a failed rank): gone leave_window after they
        // said so, unless every member leaves (then they save together and the job ends).
        std::set<int> gone;
        if (elastic) {
          bool all_leaving = true;
          for (int id : plan.nodes) {
            if (!store->check({key(leftKey(id))})) {
              all_leaving = false;
              continue;
            }
            const auto seen = left_since.emplace(id, now).first->second;
            if (now - seen >= o.leave_window) gone.insert(id);
          }
          if (all_leaving) gone.clear();
        }
        for (int r = 0; r < known; ++r) {
          if (r == me) continue;
          // A node that left is gone even once it says it is done.
          if (gone.count(r)) continue;
          if (elastic && !std::count(plan.nodes.begin(), plan.nodes.end(), r) &&
              store->check({key(leftKey(r))}))
            continue;
          if (store->check({key(doneKey(r))})) {
            alive.insert(r);
            continue;
          }
          const std::string hb = key(heartbeatKey(r));
          const std::string value = store->check({hb}) ? store->get(hb) : "";
          if (!seen.count(r)) seen[r] = Seen{"", now};
          if (value != seen[r].value) seen[r] = Seen{value, now};
          const bool member =
              std::find(plan.nodes.begin(), plan.nodes.end(), r) != plan.nodes.end();
          if (now - seen[r].since <= o.heartbeat_timeout) {
            all_finished = false;
            if (!value.empty() || member) alive.insert(r);
          } else if (dead.empty() && !elastic) {
            dead = "node " + std::to_string(r) + " (" + addrs[r] + ") failed first: its agent " +
                   "stopped heartbeating for " +
                   std::to_string(o.heartbeat_timeout.count() / 1000) +
                   " s (killed, or its host or link is down)";
          }
        }
        if (report.empty()) report = dead;
        // The leader of an elastic job: lost members leave, newcomers join, as a new generation.
        std::string why;
        const std::optional<GroupPlan> next =
            leading ? nextPlan(plan, alive, o.nnodes, &why) : std::nullopt;
        if (next && static_cast<int>(next->nodes.size()) < o.min_nodes && report.empty()) {
          report = why + ": " + std::to_string(next->nodes.size()) + " node(s) left, fewer than " +
                   "--nnodes " + std::to_string(o.min_nodes) + ":" + std::to_string(o.nnodes);
        } else if (next) {
          const bool lost = std::any_of(plan.nodes.begin(), plan.nodes.end(),
                                        [&](int id) { return !alive.count(id); });
          const int64_t g = publishPlan(*ranks, *next, why, !lost);
          plan = *next;
          writeLine(STDERR_FILENO, "trainrun: " + why + "; the job goes on with " +
                                       std::to_string(plan.nodes.size()) +
                                       " node(s), world_size=" + std::to_string(plan.worldSize()) +
                                       " (generation " + std::to_string(g) + ")");
        }
        // The host (etcd: the leader, or node 0 of a fixed set) says when a node with a wrong
        // token knocked (it was refused; we go on).
        const std::string open = rdzvOpenPrefix(o.run_id);
        const bool speaks = o.host || (etcd && (elastic ? leading : me == 0));
        if (speaks && store->check({open + kRefusedKey})) {
          const int64_t refused = store->add(open + kRefusedKey, 0);
          for (; told < refused; ++told) {
            const std::string who = store->get(open + refusedKey(told + 1));
            writeLine(STDERR_FILENO, "trainrun: refused a node at " + who + " that joined run '" +
                                         o.run_id +
                                         "' with a wrong rendezvous token; the run goes on");
          }
        }
        if (!report.empty() && !store->check({key(kFailureKey)}) &&
            store->add(key(kFailuresKey), 1) == 1)
          store->set(key(kFailureKey), report);
        const std::string failure =
            store->check({key(kFailureKey)}) ? store->get(key(kFailureKey)) : "";
        std::lock_guard<std::mutex> lock(state->mu);
        state->failure = failure;
        state->all_finished = all_finished;
        state->done_written = done;
        state->last_answer = Clock::now();
      } catch (const std::exception&) {
        store.reset();  // reconnect next round; last_answer ages meanwhile
        led = false;    // and re-read the plan if this node (still) leads then
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }).detach();
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
