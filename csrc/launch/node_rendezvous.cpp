// NodeRendezvous over the project's Store: claim a rank, publish "addr nproc", wait for all.
#include "launch/node_rendezvous.h"

#include <sstream>
#include <thread>

#include "core/clock.h"
#include "core/error.h"
#include "core/strings.h"

namespace trainrun::launch {
namespace {

std::string nodeKey(int rank) { return "node/" + std::to_string(rank); }

}  // namespace

NodeRendezvous::NodeRendezvous(const NodeRendezvousOptions& o)
    : options_(o), prefix_("rdzv/" + o.run_id + "/") {
  const Endpoint& ep = o.endpoint;
  if (o.host) {
    store_ = Store::host(ep.port, o.store_timeout);
    if (ep.port != 0 && store_->port() != ep.port)
      throw ConfigError("rendezvous port " + std::to_string(ep.port) +
                        " is taken on this node; free it or choose another with --rdzv-endpoint "
                        "HOST:PORT (every node must name the same one)");
  } else {
    // The hosting node may start later than this one: keep trying until the join deadline.
    store_ = Store::connect(ep.addr, ep.port, o.join_timeout);
  }
  node_rank_ = o.node_rank;
  if (node_rank_ < 0) node_rank_ = o.host ? 0 : static_cast<int>(store_->add(key("arrivals"), 1));
  if (node_rank_ >= o.nnodes)
    throw ConfigError("more nodes joined run '" + o.run_id + "' than --nnodes " +
                      std::to_string(o.nnodes) + " (this one would be node " +
                      std::to_string(node_rank_) + "); check --nnodes on every node");
  if (store_->add(key("claims/" + std::to_string(node_rank_)), 1) != 1)
    throw ConfigError("node rank " + std::to_string(node_rank_) + " of run '" + o.run_id +
                      "' is claimed by another node too; give each node its own --node-rank");
  store_->set(key(nodeKey(node_rank_)),
              o.local_addr + " " + std::to_string(o.nproc_per_node));

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

void NodeRendezvous::reportFailure(const std::string& what) {
  try {
    if (store_->add(key("failures"), 1) == 1) store_->set(key("failure"), what);
  } catch (const std::exception&) {
  }
}

std::string NodeRendezvous::failure() {
  try {
    if (!store_->check({key("failure")})) return "";
    return store_->get(key("failure"));
  } catch (const std::exception& e) {
    return "node 0's rendezvous store is unreachable (" + oneLine(e.what()) +
           "); node 0 is probably gone";
  }
}

void NodeRendezvous::finish(std::chrono::milliseconds timeout) {
  try {
    store_->set(key("done/" + std::to_string(node_rank_)), "1");
    if (!options_.host) return;
    std::vector<std::string> done;
    for (int r = 0; r < options_.nnodes; ++r) done.push_back(key("done/" + std::to_string(r)));
    const Clock::time_point deadline = Clock::now() + timeout;
    while (!store_->check(done) && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } catch (const std::exception&) {
  }
}

}  // namespace trainrun::launch
