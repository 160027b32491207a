// Store over c10d::TCPStore or EtcdStore: hosting with free-port fallback, connecting, timed
// get/wait.
#include "store/store.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "core/env.h"
#include "core/error.h"
#include "core/strings.h"
#include "store/etcd/etcd_store.h"

namespace trainrun {
namespace {

c10::intrusive_ptr<c10d::TCPStore> makeTcpStore(const std::string& addr, uint16_t port,
                                                bool is_server, std::chrono::milliseconds timeout,
                                                std::optional<int> listen_fd = std::nullopt) {
  c10d::TCPStoreOptions opts;
  opts.port = port;
  opts.isServer = is_server;
  opts.waitWorkers = false;
  opts.timeout = timeout;
  opts.masterListenFd = listen_fd;
  return c10::make_intrusive<c10d::TCPStore>(addr, opts);
}

// A listening TCP socket on addr:port (IPv4); -1 with errno set when it cannot bind. c10d's
// server binds every interface itself; given this socket (masterListenFd) it serves on it
// alone, and owns it from then on.
int listenOn(const std::string& addr, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (::inet_pton(AF_INET, addr.c_str(), &sa.sin_addr) != 1) {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    addrinfo* res = nullptr;
    if (::getaddrinfo(addr.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) {
      errno = EADDRNOTAVAIL;
      return -1;
    }
    sa.sin_addr = reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr;
    ::freeaddrinfo(res);
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 || ::listen(fd, 2048) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

}  // namespace

std::unique_ptr<Store> Store::host(uint16_t port, std::chrono::milliseconds timeout,
                                   const std::string& addr) {
  int fd = listenOn(addr, port);
  if (fd < 0 && errno == EADDRINUSE && port != 0) fd = listenOn(addr, 0);  // any free port
  if (fd < 0)
    throw CommError("cannot host the rendezvous store on " + addr + ":" + std::to_string(port) +
                    " (" + std::strerror(errno) + "); give --local-addr an address of this node");
  sockaddr_in bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  const uint16_t actual = ntohs(bound.sin_port);
  c10::intrusive_ptr<c10d::TCPStore> store;
  try {
    store = makeTcpStore(addr, actual, /*is_server=*/true, timeout, fd);
  } catch (const std::exception& e) {
    throw CommError("cannot host the rendezvous store on " + addr + ":" + std::to_string(actual) +
                    ": " + oneLine(e.what()));
  }
  return std::unique_ptr<Store>(
      new Store(store, addr + ":" + std::to_string(actual), actual, timeout));
}

std::unique_ptr<Store> Store::connect(const std::string& addr, uint16_t port,
                                      std::chrono::milliseconds timeout,
                                      const std::string& prefix) {
  try {
    c10::intrusive_ptr<c10d::Store> store = makeTcpStore(addr, port, /*is_server=*/false, timeout);
    if (!prefix.empty()) store = c10::make_intrusive<c10d::PrefixStore>(prefix, store);
    return std::unique_ptr<Store>(
        new Store(store, addr + ":" + std::to_string(port), port, timeout));
  } catch (const std::exception& e) {
    throw CommError("cannot reach the rendezvous store at " + addr + ":" + std::to_string(port) +
                    " (is the launcher running and MASTER_ADDR/MASTER_PORT right?)");
  }
}

StoreBackend parseStoreBackend(const std::string& name) {
  if (name.empty() || name == "c10d") return StoreBackend::kTcp;
  if (name == "etcd") return StoreBackend::kEtcd;
  throw ConfigError("rendezvous store backend '" + name + "' is unknown; use c10d or etcd");
}

const char* storeBackendName(StoreBackend backend) {
  return backend == StoreBackend::kEtcd ? "etcd" : "c10d";
}

std::unique_ptr<Store> Store::connect(StoreBackend backend, const std::string& addr, uint16_t port,
                                      std::chrono::milliseconds timeout,
                                      const std::string& prefix) {
  if (backend == StoreBackend::kTcp) return connect(addr, port, timeout, prefix);
  return connectEtcd(addr, port, timeout, prefix);
}

namespace {

// TLS to etcd from the environment (the launcher exports its --rdzv-conf keys there, for
// itself and its ranks). A protocol other than http or https, a TLS file without https, or a
// file that cannot be read is a ConfigError naming the key, before any connection.
void etcdTlsFromEnv(EtcdOptions& o) {
  const std::string protocol = env::get(env::kEtcdProtocol);
  if (!protocol.empty() && protocol != "http" && protocol != "https")
    throw ConfigError("etcd protocol '" + protocol + "' (--rdzv-conf protocol, $" +
                      env::kEtcdProtocol + ") is neither http nor https");
  o.https = protocol == "https";
  struct File {
    const char* key;
    const char* var;
    std::string* path;
  };
  for (const File& f : {File{"ca_cert", env::kEtcdCaCert, &o.ca_cert},
                        File{"ssl_cert", env::kEtcdSslCert, &o.ssl_cert},
                        File{"ssl_cert_key", env::kEtcdSslCertKey, &o.ssl_cert_key}}) {
    *f.path = env::get(f.var);
    if (f.path->empty()) continue;
    const std::string named =
        std::string(f.key) + " " + *f.path + " (--rdzv-conf " + f.key + ", $" + f.var + ")";
    if (!o.https) throw ConfigError(named + " needs --rdzv-conf protocol=https");
    if (::access(f.path->c_str(), R_OK) != 0)
      throw ConfigError(named + " cannot be read (" + std::strerror(errno) +
                        "); give a PEM file this user can read");
  }
  if (!o.ssl_cert_key.empty() && o.ssl_cert.empty())
    throw ConfigError(std::string("--rdzv-conf ssl_cert_key ($") + env::kEtcdSslCertKey +
                      ") needs the certificate it belongs to: give ssl_cert too");
}

}  // namespace

std::unique_ptr<Store> Store::connectEtcd(const std::string& addr, uint16_t port,
                                          std::chrono::milliseconds timeout,
                                          const std::string& prefix) {
  EtcdOptions o;
  o.addr = addr;
  o.port = port;
  o.timeout = timeout;
  o.user = env::get(env::kEtcdUser);
  o.password = env::get(env::kEtcdPassword);
  etcdTlsFromEnv(o);
  const std::string where = addr + ":" + std::to_string(port);
  c10::intrusive_ptr<EtcdStore> etcd;
  try {
    etcd = c10::make_intrusive<EtcdStore>(o);
  } catch (const c10::DistNetworkError& e) {
    throw CommError("cannot reach etcd at " + where + " for the rendezvous (" +
                    oneLine(e.what_without_backtrace()) +
                    "); start etcd there, or fix --rdzv-endpoint HOST:PORT");
  } catch (const c10::DistStoreError& e) {
    throw CommError("etcd at " + where +
                    " refused the rendezvous: " + oneLine(e.what_without_backtrace()));
  }
  c10::intrusive_ptr<c10d::Store> store = etcd;
  if (!prefix.empty()) store = c10::make_intrusive<c10d::PrefixStore>(prefix, store);
  std::unique_ptr<Store> s(new Store(store, where, port, timeout));
  s->backend_ = StoreBackend::kEtcd;
  s->etcd_ = etcd;
  s->prefix_ = prefix;
  // The run's keys are readable: etcd's auth lets this user in (roles grant key prefixes).
  if (!prefix.empty()) s->check({"probe"});
  return s;
}

bool Store::holdLease(const std::string& key, const std::string& value,
                      std::chrono::milliseconds ttl) {
  if (!etcd_)
    throw CommError("the rendezvous store at " + where_ + " (c10d) has no leases; its host leads");
  // PrefixStore joins with '/'.
  const std::string full = prefix_.empty() ? key : prefix_ + "/" + key;
  return guarded("lease",
                 [&] { return static_cast<EtcdStore&>(*etcd_).holdLease(full, value, ttl); });
}

template <typename Fn>
auto Store::guarded(const char* op, Fn fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const c10::DistNetworkError&) {
    throw lostConnection(op);
  } catch (const c10::DistStoreError& e) {  // etcd answered with an error (permissions)
    throw CommError("rendezvous store at " + where_ + " (" + op +
                    "): " + oneLine(e.what_without_backtrace()));
  }
}

CommError Store::lostConnection(const char* op) const {
  if (backend_ == StoreBackend::kEtcd)
    return CommError("lost the connection to etcd at " + where_ + " (" + op +
                     "), the job's rendezvous store: etcd is down, or the link to it is");
  return CommError("lost the connection to the rendezvous store at " + where_ + " (" + op +
                   "): the launcher that hosts it (node 0's) is gone, or the link to it is down");
}

void Store::set(const std::string& key, const std::string& value) {
  guarded("set", [&] { store_->set(key, std::vector<uint8_t>(value.begin(), value.end())); });
}

std::string Store::get(const std::string& key, std::chrono::milliseconds timeout) {
  wait({key}, timeout);
  std::vector<uint8_t> v = guarded("get", [&] { return store_->get(key); });
  return std::string(v.begin(), v.end());
}

int64_t Store::add(const std::string& key, int64_t delta) {
  return guarded("add", [&] { return store_->add(key, delta); });
}

std::string Store::compareSet(const std::string& key, const std::string& expected,
                              const std::string& desired) {
  std::vector<uint8_t> v = guarded("compare-and-set", [&] {
    return store_->compareSet(key, std::vector<uint8_t>(expected.begin(), expected.end()),
                              std::vector<uint8_t>(desired.begin(), desired.end()));
  });
  return std::string(v.begin(), v.end());
}

bool Store::check(const std::vector<std::string>& keys) {
  return guarded("check", [&] { return store_->check(keys); });
}

void Store::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  try {
    store_->wait(keys, timeout);
  } catch (const c10::DistNetworkError&) {
    throw lostConnection("wait");
  } catch (const std::exception& e) {
    std::string names;
    for (const auto& k : keys) names += (names.empty() ? "" : ", ") + k;
    throw TimeoutError("rendezvous store: waited " + std::to_string(timeout.count()) +
                       " ms for key(s) " + names + " that never appeared");
  }
}

}  // namespace trainrun
