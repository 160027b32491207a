// planNodes: precedence flags > scheduler > defaults, and the socket probes it needs.
#include "launch/node_plan.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

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

bool isLocalAddress(const std::string& host) {
  sockaddr_in a{};
  if (!resolve(host, 0, &a)) return false;
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return false;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

NodePlan planNodes(const LaunchOptions& opts, const SchedulerJob& job) {
  auto given = [&](const char* flag) { return opts.given.count(flag) != 0; };
  NodePlan plan;
  plan.source = job.scheduler.empty() ? "flags" : describe(job);
  plan.nnodes = given("--nnodes") || job.nnodes == 0 ? opts.nnodes : job.nnodes;
  plan.min_nnodes = given("--nnodes") || job.nnodes == 0 ? opts.min_nnodes : plan.nnodes;
  plan.node_rank = given("--node-rank") || job.node_rank < 0 ? opts.node_rank : job.node_rank;
  plan.nproc_per_node = given("--nproc-per-node") || job.nproc_per_node == 0 ? opts.nproc_per_node
                                                                             : job.nproc_per_node;
  plan.run_id = given("--rdzv-id") || job.job_id.empty() ? opts.rdzv_id : job.job_id;
  plan.interface = job.interface;
  plan.scheduler = job.scheduler;
  plan.job_id = job.job_id;

  const bool endpoint_flags =
      given("--rdzv-endpoint") || given("--master-addr") || given("--master-port");
  if (plan.nnodes == 1) {
    // One node: the store is local and may move to a free port, as before.
    plan.endpoint = Endpoint{opts.master_addr, opts.master_port};
    plan.node_rank = 0;
    plan.host = true;
    return plan;
  }
  if (opts.rdzv_backend == "etcd") {
    // etcd holds the store: nobody hosts, so losing any node (node 0 too) is survivable.
    plan.backend = StoreBackend::kEtcd;
    plan.endpoint = parseEndpoint(opts.rdzv_endpoint, kDefaultEtcdPort);
    plan.host = false;
    plan.local_addr = opts.local_addr;
    if (plan.local_addr.empty())
      plan.local_addr = localAddressTowards(plan.endpoint.addr, plan.endpoint.port);
    if (plan.local_addr.empty())
      throw ConfigError("cannot tell this node's address towards etcd at " + plan.endpoint.addr +
                        ":" + std::to_string(plan.endpoint.port) +
                        " (does the host resolve and is it routable?); give --local-addr ADDR");
    return plan;
  }
  if (given("--rdzv-endpoint")) {
    plan.endpoint = parseEndpoint(opts.rdzv_endpoint, kDefaultRdzvPort);
  } else if (given("--master-addr") || job.master_addr.empty()) {
    plan.endpoint = Endpoint{opts.master_addr, opts.master_port};
  } else {
    plan.endpoint =
        Endpoint{job.master_addr, job.master_port != 0 ? job.master_port : opts.master_port};
  }
  if (!job.scheduler.empty() && job.master_addr.empty() && !endpoint_flags && plan.node_rank == 0) {
    // AWS Batch's main node is not told its own address: it hosts on all of them.
    plan.endpoint.addr = "";
  }
  if (given("--master-port") && !given("--rdzv-endpoint")) plan.endpoint.port = opts.master_port;

  plan.host =
      plan.node_rank == 0 ||
      (plan.node_rank < 0 && (plan.endpoint.addr.empty() || isLocalAddress(plan.endpoint.addr)));
  if (plan.host && plan.node_rank < 0) plan.node_rank = 0;
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
  if (plan.endpoint.addr.empty()) plan.endpoint.addr = plan.local_addr;
  if (plan.local_addr.empty())
    throw ConfigError("cannot tell this node's address towards the rendezvous at " +
                      plan.endpoint.addr + ":" + std::to_string(plan.endpoint.port) +
                      " (does the host resolve and is it routable?); give --local-addr ADDR");
  return plan;
}

}  // namespace trainrun::launch
