// planNodes: precedence flags > scheduler > defaults, and the socket probes it needs.
#include "launch/node_plan.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace trainrun::launch {
namespace {

// torchrun's default port of a c10d rendezvous endpoint given without one, and etcd's.
constexpr uint16_t kDefaultRdzvPort = 29400;
constexpr uint16_t kDefaultEtcdPort = 2379;

// Resolves host to an IPv4 socket address; false if it does not resolve.
bool resolve(const std::string& host, uint16_t port, sockaddr_in* out) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) return false;
  *out = *reinterpret_cast<sockaddr_in*>(res->ai_addr);
  out->sin_port = htons(port);
  ::freeaddrinfo(res);
  return true;
}

Endpoint parseEndpoint(const std::string& text, uint16_t default_port) {
  const size_t colon = text.rfind(':');
  Endpoint ep{text, default_port};
  if (colon != std::string::npos) {
    ep.addr = text.substr(0, colon);
    const std::string port = text.substr(colon + 1);
    char* end = nullptr;
    const long v = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || v < 1 || v > 65535)
      throw ConfigError("--rdzv-endpoint '" + text + "': the port must be 1..65535, e.g. " +
                        ep.addr + ":29400");
    ep.port = static_cast<uint16_t>(v);
  }
  if (ep.addr.empty()) throw ConfigError("--rdzv-endpoint '" + text + "' names no host");
  return ep;
}

}  // namespace

std::string localAddressTowards(const std::string& host, uint16_t port) {
  sockaddr_in peer{};
  if (!resolve(host, port == 0 ? 9 : port, &peer)) return "";
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return "";
  std::string addr;
  sockaddr_in self{};
  socklen_t len = sizeof(self);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&peer), sizeof(peer)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&self), &len) == 0) {
    char text[INET_ADDRSTRLEN];
    if (::inet_ntop(AF_INET, &self.sin_addr, text, sizeof(text)) != nullptr) addr = text;
  }
  ::close(fd);
  return addr;
}

bool isLoopback(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr a{};
  return ::inet_pton(AF_INET, host.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

std::string defaultRouteAddress(const std::string& route_table) {
  // /proc/net/route: "Iface Destination Gateway Flags ... Mask ...", hex in network order.
  std::ifstream in(route_table);
  std::string line, iface;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name, dest, gateway, flags, refcnt, use, metric, mask;
    if (!(fields >> name >> dest >> gateway >> flags >> refcnt >> use >> metric >> mask)) continue;
    const unsigned long up = std::strtoul(flags.c_str(), nullptr, 16) & 0x1;  // RTF_UP
    if (dest == "00000000" && mask == "00000000" && up && name != "lo") {
      iface = name;
      break;
    }
  }
  if (iface.empty()) return "";
  ifaddrs* all = nullptr;
  if (::getifaddrs(&all) != 0) return "";
  std::string addr;
  for (ifaddrs* i = all; i != nullptr && addr.empty(); i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET || iface != i->ifa_name)
      continue;
    char text[INET_ADDRSTRLEN];
    const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
    if (::inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text)) != nullptr) addr = text;
  }
  ::freeifaddrs(all);
  return addr;
}

bool isLocalAddress(const std::string& host) {
  sockaddr_in a{};
  if (!resolve(host, 0, &a)) return false;
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return false;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

namespace {

bool given(const LaunchOptions& opts, const char* flag) { return opts.given.count(flag) != 0; }

// etcd holds the store: nobody hosts, so losing any node (node 0 too) is survivable.
void planEtcd(const LaunchOptions& opts, NodePlan& plan) {
  plan.backend = StoreBackend::kEtcd;
  plan.endpoint = parseEndpoint(opts.rdzv_endpoint, kDefaultEtcdPort);
  plan.endpoint_from = "--rdzv-endpoint";
  plan.host = false;
  plan.local_addr = opts.local_addr;
  if (plan.local_addr.empty())
    plan.local_addr = localAddressTowards(plan.endpoint.addr, plan.endpoint.port);
  if (plan.local_addr.empty())
    throw ConfigError("cannot tell this node's address towards etcd at " + plan.endpoint.addr +
                      ":" + std::to_string(plan.endpoint.port) +
                      " (does the host resolve and is it routable?); give --local-addr ADDR");
}

// Node 0's store: --rdzv-endpoint, else --master-addr (or its default), else the scheduler's.
void chooseEndpoint(const LaunchOptions& opts, const SchedulerJob& job, NodePlan& plan) {
  const bool endpoint_flags = given(opts, "--rdzv-endpoint") || given(opts, "--master-addr") ||
                              given(opts, "--master-port");
  if (given(opts, "--rdzv-endpoint")) {
    plan.endpoint = parseEndpoint(opts.rdzv_endpoint, kDefaultRdzvPort);
    plan.endpoint_from = "--rdzv-endpoint";
  } else if (given(opts, "--master-addr") || job.master_addr.empty()) {
    plan.endpoint = Endpoint{opts.master_addr, opts.master_port};
    plan.endpoint_from = given(opts, "--master-addr")
                             ? "--master-addr (or PET_MASTER_ADDR)"
                             : std::string("the default --master-addr ") + kDefaultMasterAddr;
  } else {
    plan.endpoint =
        Endpoint{job.master_addr, job.master_port != 0 ? job.master_port : opts.master_port};
    plan.endpoint_from =
        (job.master_from.empty() ? std::string("the scheduler") : job.master_from) + " from " +
        job.scheduler;
  }
  if (!job.scheduler.empty() && job.master_addr.empty() && !endpoint_flags && plan.node_rank == 0) {
    // AWS Batch's main node is not told its own address: it hosts on all of them.
    plan.endpoint.addr = "";
  }
  if (given(opts, "--master-port") && !given(opts, "--rdzv-endpoint"))
    plan.endpoint.port = opts.master_port;
}

// This node's address as the others reach it: --local-addr, else the one towards the
// endpoint, else its hostname's; never a loopback one for a host that others must reach.
void chooseLocalAddress(const LaunchOptions& opts, NodePlan& plan) {
  plan.local_addr = opts.local_addr;
  if (plan.local_addr.empty() && !plan.endpoint.addr.empty())
    plan.local_addr = localAddressTowards(plan.endpoint.addr, plan.endpoint.port);
  if (plan.local_addr.empty()) {  // this node hosts at an address nobody named: its hostname's
    char name[256] = {};
    sockaddr_in self{};
    if (::gethostname(name, sizeof(name) - 1) == 0 && resolve(name, 0, &self)) {
      char text[INET_ADDRSTRLEN];
      if (::inet_ntop(AF_INET, &self.sin_addr, text, sizeof(text)) != nullptr)
        plan.local_addr = text;
    }
  }
  // The hosting node tells the others where it is: never a loopback address (Debian's and
  // Ubuntu's /etc/hosts map the hostname to 127.0.1.1; Kubeflow may name the master
  // "localhost" to itself), unless the user's own flags put every node on this machine.
  const bool all_here = (given(opts, "--rdzv-endpoint") || given(opts, "--master-addr")) &&
                        isLoopback(plan.endpoint.addr);
  if (plan.host && !given(opts, "--local-addr") && isLoopback(plan.local_addr) && !all_here) {
    const std::string loopback = plan.local_addr;
    plan.local_addr = defaultRouteAddress();
    if (plan.local_addr.empty())
      throw ConfigError("this node hosts the rendezvous of " + std::to_string(plan.nnodes) +
                        " nodes, but its address resolves to loopback (" + loopback +
                        ") and no default-route interface gives another; give --local-addr ADDR, "
                        "this node's address on the network the nodes share");
  }
  if (plan.local_addr.empty())
    throw ConfigError("cannot tell this node's address towards the rendezvous at " +
                      plan.endpoint.addr + ":" + std::to_string(plan.endpoint.port) +
                      " (does the host resolve and is it routable?); give --local-addr ADDR");
}

}  // namespace

NodePlan planNodes(const LaunchOptions& opts, const SchedulerJob& job) {
  NodePlan plan;
  plan.source = job.scheduler.empty() ? "flags" : describe(job);
  plan.nnodes = given(opts, "--nnodes") || job.nnodes == 0 ? opts.nnodes : job.nnodes;
  plan.min_nnodes = given(opts, "--nnodes") || job.nnodes == 0 ? opts.min_nnodes : plan.nnodes;
  plan.node_rank = given(opts, "--node-rank") || job.node_rank < 0 ? opts.node_rank : job.node_rank;
  plan.nproc_per_node = given(opts, "--nproc-per-node") || job.nproc_per_node == 0
                            ? opts.nproc_per_node
                            : job.nproc_per_node;
  plan.run_id = given(opts, "--rdzv-id") || job.job_id.empty() ? opts.rdzv_id : job.job_id;
  plan.interface = job.interface;
  plan.scheduler = job.scheduler;
  plan.job_id = job.job_id;
  if (plan.nnodes == 1) {
    // One node: the store is local and may move to a free port, as before.
    plan.endpoint = Endpoint{opts.master_addr, opts.master_port};
    plan.node_rank = 0;
    plan.host = true;
    return plan;
  }
  if (opts.rdzv_backend == "etcd") {
    planEtcd(opts, plan);
    return plan;
  }
  chooseEndpoint(opts, job, plan);
  plan.host =
      plan.node_rank == 0 ||
      (plan.node_rank < 0 && (plan.endpoint.addr.empty() || isLocalAddress(plan.endpoint.addr)));
  if (plan.host && plan.node_rank < 0) plan.node_rank = 0;
  chooseLocalAddress(opts, plan);
  // The host's store listens on that address only; its own ranks dial it there too.
  if (plan.host) plan.endpoint.addr = plan.local_addr;
  return plan;
}

}  // namespace trainrun::launch
