// This node's place in the job, from flags, PET_* variables and the scheduler's environment.
#pragma once

#include <string>

#include "launch/cli.h"
#include "launch/scheduler_env.h"
#include "launch/worker_spec.h"
#include "store/store.h"

namespace trainrun::launch {

struct NodePlan {
  int nnodes = 1;      // at most this many nodes
  int min_nnodes = 1;  // < nnodes: elastic nodes (--nnodes MIN:MAX)
  int node_rank = -1;  // -1: by arrival
  int nproc_per_node = 1;
  StoreBackend backend = StoreBackend::kTcp;  // kEtcd: --rdzv-backend etcd
  Endpoint endpoint;                          // node 0's rendezvous store, or etcd's
  std::string endpoint_from;  // what named it, for errors: "--rdzv-endpoint", "MASTER_ADDR
                              // from kubeflow", "the default --master-addr 127.0.0.1", ...
  bool host = false;          // this node hosts it (never with etcd)
  std::string run_id;         // shared by the job's nodes
  std::string local_addr;     // this node's address as the others reach it ("" on one node)
  std::string interface;      // network interface the scheduler named, for Gloo/NCCL
  std::string scheduler;      // the detected scheduler ("" none) and its job id, for the token
  std::string job_id;
  std::string source;  // "flags", or the scheduler's description, for the start-up line
};

// Explicit flags (opts.given) win; then the scheduler's values; then the defaults. With one
// node the store is local as before (host, node 0, no local address). With etcd (several
// nodes) no node hosts: node ranks are given or by arrival, and the endpoint's port defaults to
// etcd's 2379. The hosting node of several never advertises a loopback address: when its
// address (towards the endpoint, or its hostname's) is one, it takes its default-route
// interface's, unless --rdzv-endpoint/--master-addr name loopback (every node on this
// machine); its endpoint.addr becomes that address, where the store listens. Throws
// ConfigError for an endpoint that does not parse, or a node that cannot tell its own address.
NodePlan planNodes(const LaunchOptions& opts, const SchedulerJob& job);

// The address of this machine that traffic to host:port leaves from (a UDP connect: no packet
// is sent); "" when the host does not resolve or is unreachable.
std::string localAddressTowards(const std::string& host, uint16_t port);

// True for "localhost", "::1" and 127.0.0.0/8 literals.
bool isLoopback(const std::string& host);

// The IPv4 address of the interface that holds the default route in `route_table` (Linux's
// /proc/net/route format); "" when there is no default route or it has no IPv4 address.
std::string defaultRouteAddress(const std::string& route_table = "/proc/net/route");

// True if `host` names an address of this machine (it can be bound).
bool isLocalAddress(const std::string& host);

}  // namespace trainrun::launch
