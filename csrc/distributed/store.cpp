// Store over c10d::TCPStore or EtcdStore: hosting with free-port fallback, connecting, timed
// get/wait.
#include "distributed/store.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "core/env.h"
#include "core/error.h"
#include "core/strings.h"
#include "distributed/etcd/etcd_store.h"

namespace trainrun {
namespace {

c10::intrusive_ptr<c10d::TCPStore> makeTcpStore(const std::string& addr, uint16_t port,
                                                bool is_server, std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions opts;
  opts.port = port;
  opts.isServer = is_server;
  opts.waitWorkers = false;
  opts.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(addr, opts);
}

}  // namespace

std::unique_ptr<Store> Store::host(uint16_t port, std::chrono::milliseconds timeout) {
  c10::intrusive_ptr<c10d::TCPStore> store;
  try {
    store = makeTcpStore("0.0.0.0", port, /*is_server=*/true, timeout);
  } catch (const std::exception&) {
    if (port == 0) throw CommError("cannot host the rendezvous store on any free port");
    store = makeTcpStore("0.0.0.0", 0, /*is_server=*/true, timeout);  // port taken: any free one
  }
  uint16_t actual = static_cast<uint16_t>(store->getPort());
  return std::unique_ptr<Store>(
      new Store(store, "127.0.0.1:" + std::to_string(actual), actual, timeout));
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

std::unique_ptr<Store> Store::connectEtcd(const std::string& addr, uint16_t port,
                                          std::chrono::milliseconds timeout,
                                          const std::string& prefix) {
  EtcdOptions o;
  o.addr = addr;
  o.port = port;
  o.timeout = timeout;
  o.user = env::get(env::kEtcdUser);
  o.password = env::get(env::kEtcdPassword);
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
