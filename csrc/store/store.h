// Key-value rendezvous store shared by all ranks of a job: c10d's TCPStore, or an etcd server.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <vector>

#include "core/error.h"

namespace trainrun {

// Where the store lives: a c10d TCPStore that a launcher hosts, or an etcd v3 server that no
// node hosts (--rdzv-backend etcd; ranks see TRAINRUN_STORE_BACKEND=etcd).
enum class StoreBackend { kTcp, kEtcd };
// "etcd" -> kEtcd; "" or "c10d" -> kTcp; anything else throws ConfigError.
StoreBackend parseStoreBackend(const std::string& name);
const char* storeBackendName(StoreBackend backend);  // "c10d", "etcd"

// Contract: every call is thread-safe; get() and wait() block until the key exists or the
// deadline passes (then TimeoutError). The launcher hosts the store; ranks connect to it.
// The store carries the group's one deadline (dist.timeout_s): communicators built on it
// bound their collectives by it, and its own waits default to it.
class Store {
 public:
  // Hosts the store on `port` of the IPv4 address `addr` only (loopback by default: a one-node
  // job's store is reachable from this machine alone; several nodes' host listens on the
  // node's chosen address). If the port is taken, hosts it on a free port instead; port()
  // tells which one. Throws CommError when `addr` cannot be bound.
  static std::unique_ptr<Store> host(uint16_t port, std::chrono::milliseconds timeout,
                                     const std::string& addr = "127.0.0.1");
  // Connects to a store hosted at addr:port, retrying until `timeout`. A non-empty `prefix`
  // puts every key this handle reads or writes under it (the launcher's secret per-run prefix,
  // so processes without the rendezvous token cannot touch the run's keys).
  static std::unique_ptr<Store> connect(const std::string& addr, uint16_t port,
                                        std::chrono::milliseconds timeout,
                                        const std::string& prefix = "");
  // The same for either backend. An etcd store takes etcd's user and password from
  // TRAINRUN_ETCD_USER / TRAINRUN_ETCD_PASSWORD when set, and fails at once (in a few seconds
  // when the connection is refused) with one CommError naming the endpoint when etcd does not
  // answer: etcd is started before the job, never by it.
  static std::unique_ptr<Store> connect(StoreBackend backend, const std::string& addr,
                                        uint16_t port, std::chrono::milliseconds timeout,
                                        const std::string& prefix = "");

  StoreBackend backend() const { return backend_; }

  uint16_t port() const { return port_; }
  // The group's deadline this store was opened with.
  std::chrono::milliseconds timeout() const { return timeout_; }
  void set(const std::string& key, const std::string& value);
  std::string get(const std::string& key) { return get(key, timeout_); }
  std::string get(const std::string& key, std::chrono::milliseconds timeout);
  int64_t add(const std::string& key, int64_t delta);
  // Sets `key` to `desired` if it holds `expected` (or is missing and `expected` is ""); returns
  // the value it holds afterwards either way.
  std::string compareSet(const std::string& key, const std::string& expected,
                         const std::string& desired);
  // True if every key exists; never blocks for them.
  bool check(const std::vector<std::string>& keys);
  void wait(const std::vector<std::string>& keys) { wait(keys, timeout_); }
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout);

  // Leadership among the nodes (etcd only): true while this handle holds `key` (under its
  // prefix) holding `value`; each call renews it, and it lapses `ttl` after the last. A
  // TCPStore has no leases (its host leads): throws CommError there.
  bool holdLease(const std::string& key, const std::string& value, std::chrono::milliseconds ttl);

  // The c10d store itself, for c10d process groups.
  const c10::intrusive_ptr<c10d::Store>& c10dStore() const { return store_; }

 private:
  Store(c10::intrusive_ptr<c10d::Store> store, std::string where, uint16_t port,
        std::chrono::milliseconds timeout)
      : store_(std::move(store)), where_(std::move(where)), port_(port), timeout_(timeout) {}
  static std::unique_ptr<Store> connectEtcd(const std::string& addr, uint16_t port,
                                            std::chrono::milliseconds timeout,
                                            const std::string& prefix);
  // Runs one store operation; a lost connection becomes a one-line CommError naming the store.
  template <typename Fn>
  auto guarded(const char* op, Fn fn) -> decltype(fn());
  CommError lostConnection(const char* op) const;
  c10::intrusive_ptr<c10d::Store> store_;
  StoreBackend backend_ = StoreBackend::kTcp;
  c10::intrusive_ptr<c10d::Store> etcd_;  // etcd: the EtcdStore under the prefix
  std::string prefix_;                    // etcd: the prefix, for holdLease
  std::string where_;                     // "addr:port", for errors
  uint16_t port_;
  std::chrono::milliseconds timeout_;
};

}  // namespace trainrun
