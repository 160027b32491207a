// A c10d::Store over etcd v3's HTTP/JSON gateway: a rendezvous store that no node hosts.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <vector>

#include "core/http.h"

namespace trainrun {

struct EtcdOptions {
  std::string addr;  // host of etcd's client URL
  uint16_t port = 2379;
  // etcd's own authentication (`etcdctl auth enable`); empty user: none.
  std::string user;
  std::string password;
  // https: TLS, verifying etcd's certificate with `ca_cert` (PEM; "": the system's CAs), and
  // presenting `ssl_cert` with its key `ssl_cert_key` when etcd asks for a client certificate.
  bool https = false;
  std::string ca_cert;
  std::string ssl_cert;
  std::string ssl_cert_key;
  // The store's deadline: get() and wait() give up after it (c10d's getTimeout()).
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
};

// Keys and values are stored as given (bytes, base64 on the wire); add() keeps a decimal string
// as c10d's TCPStore does, so compareSet() on a counter compares the same text. Every call is
// thread-safe (one HTTP connection, one request at a time). A request that gets no answer
// (etcd down, link cut: bounded by min(timeout, 10 s)) throws c10::DistNetworkError naming
// the endpoint; a failed TLS handshake or certificate, and plain HTTP to an etcd that serves
// TLS, throw c10::DistStoreError naming the settings to fix; wait() and get() past the deadline
// throw c10::DistStoreError. There is no watch: waits poll, from 2 ms up to 50 ms apart.
class EtcdStore : public c10d::Store {
 public:
  // Probes etcd once it is built (retrying for up to 3 s while it refuses connections), so a
  // wrong endpoint fails here, in one DistNetworkError, not at the first rendezvous call.
  explicit EtcdStore(EtcdOptions options);
  ~EtcdStore() override;

  c10::intrusive_ptr<c10d::Store> clone() override;
  void set(const std::string& key, const std::vector<uint8_t>& value) override;
  std::vector<uint8_t> compareSet(const std::string& key, const std::vector<uint8_t>& expected,
                                  const std::vector<uint8_t>& desired) override;
  std::vector<uint8_t> get(const std::string& key) override;
  int64_t add(const std::string& key, int64_t delta) override;
  bool deleteKey(const std::string& key) override;
  bool check(const std::vector<std::string>& keys) override;
  // Every key in this etcd (a shared etcd holds other runs' keys too).
  int64_t getNumKeys() override;
  void wait(const std::vector<std::string>& keys) override { wait(keys, timeout_); }
  void wait(const std::vector<std::string>& keys,
            const std::chrono::milliseconds& timeout) override;

  // Leadership: true while this handle holds `key` = `value` under a lease of `ttl` (whole
  // seconds, at least 2), created here when `key` is absent, or adopted when it already holds
  // `value` (another handle of the same leader). Each call keeps the lease alive; call it more
  // often than `ttl`. When the holder stops calling, etcd deletes the key after `ttl` and the
  // next caller takes it.
  bool holdLease(const std::string& key, const std::string& value, std::chrono::milliseconds ttl);

  std::string endpoint() const { return options_.addr + ":" + std::to_string(options_.port); }

 private:
  struct Kv {
    std::string value;
    int64_t mod_revision = 0;
    int64_t lease = 0;
  };
  // One POST to the gateway; returns the JSON body's text. Throws DistNetworkError for no
  // answer, DistStoreError for an error etcd answered with.
  std::string post(const std::string& path, const std::string& body);
  std::string postOnce(const std::string& path, const std::string& body, long* status);
  void authenticate();  // a fresh token for the user (call with mu_ held)
  std::optional<Kv> range(const std::string& key);
  // Puts `value` if the key is missing (lease: 0 for none); true if it did.
  bool create(const std::string& key, const std::string& value, int64_t lease);
  // Puts `value` if the key's mod revision is still `mod_revision`; true if it did.
  bool replace(const std::string& key, int64_t mod_revision, const std::string& value);
  bool keepAlive(int64_t lease);

  EtcdOptions options_;
  std::string base_url_;
  std::mutex mu_;               // one request at a time on the connection
  http::Client http_;           // kept for its connection
  std::string token_;           // etcd auth token, when a user is set
  bool answered_once_ = false;  // etcd has answered a request on this handle
  int64_t lease_ = 0;           // holdLease's lease, 0 when none
};

}  // namespace trainrun
