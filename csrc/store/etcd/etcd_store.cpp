// EtcdStore: c10d's Store operations as etcd v3 range/put/txn/lease calls over HTTP/JSON.
#include "store/etcd/etcd_store.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/clock.h"
#include "core/strings.h"

namespace trainrun {
namespace {

using nlohmann::json;

std::string b64(const std::string& bytes) { return base64Encode(bytes); }
std::string bytesOf(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }
std::vector<uint8_t> vectorOf(const std::string& s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

// proto3 JSON: int64 fields are strings, and fields at their default value are left out.
int64_t int64Field(const json& j, const char* name) {
  if (!j.contains(name)) return 0;
  const json& v = j.at(name);
  return v.is_string() ? std::stoll(v.get<std::string>()) : v.get<int64_t>();
}

std::string keyList(const std::vector<std::string>& keys) {
  std::string names;
  for (const auto& k : keys) names += (names.empty() ? "" : ", ") + k;
  return names;
}

}  // namespace

EtcdStore::EtcdStore(EtcdOptions options)
    : c10d::Store(options.timeout),
      options_(std::move(options)),
      base_url_(std::string(options_.https ? "https://" : "http://") + options_.addr + ":" +
                std::to_string(options_.port)) {
  // etcd may be starting at the same moment as the nodes: a refused connection is retried
  // briefly; anything else (no route, a wrong port that answers) fails at once.
  const Clock::time_point until =
      Clock::now() + std::min<std::chrono::milliseconds>(timeout_, std::chrono::seconds(3));
  while (true) {
    try {
      std::lock_guard<std::mutex> lock(mu_);
      if (!options_.user.empty()) authenticate();
      break;
    } catch (const c10::DistNetworkError&) {
      if (Clock::now() > until) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
  }
  while (true) {
    try {
      // Any member's status proves the endpoint is etcd, and lets in any user.
      const json j = json::parse(post("/v3/maintenance/status", "{}"), nullptr, false);
      if (!j.is_object() || !j.contains("version"))
        C10_THROW_ERROR(DistStoreError, "the server at " + endpoint() + " is not etcd v3");
      return;
    } catch (const c10::DistNetworkError&) {
      if (Clock::now() > until) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
}

EtcdStore::~EtcdStore() = default;

c10::intrusive_ptr<c10d::Store> EtcdStore::clone() {
  EtcdOptions o = options_;
  o.timeout = timeout_;
  return c10::make_intrusive<EtcdStore>(o);
}

std::string EtcdStore::postOnce(const std::string& path, const std::string& body, long* status) {
  // A request to etcd is a local round trip; a long silence is a dead etcd or a cut link.
  const auto total = std::clamp<std::chrono::milliseconds>(timeout_, std::chrono::seconds(1),
                                                           std::chrono::seconds(10));
  http::Request request;
  request.method = "POST";
  request.url = base_url_ + path;
  request.headers = {"Content-Type: application/json"};
  if (!token_.empty()) request.headers.push_back("Authorization: " + token_);
  request.body = body;
  request.total_timeout = total;
  request.connect_timeout = std::min<std::chrono::milliseconds>(total, std::chrono::seconds(3));
  request.use_proxy = false;  // etcd sits on the cluster network
  request.ca_file = options_.ca_cert;
  request.cert_file = options_.ssl_cert;
  request.key_file = options_.ssl_cert_key;
  http::Response answer = http_.perform(request);
  if (!answer.answered() && answer.tls)
    C10_THROW_ERROR(DistStoreError,
                    "TLS failed (" + oneLine(answer.detail) +
                        "); check --rdzv-conf ca_cert (the CA that signed etcd's certificate), "
                        "ssl_cert and ssl_cert_key (the client certificate etcd trusts)");
  // etcd's TLS listener closes a plain-HTTP connection without a reply (Go's answers a 400);
  // after a first answer, an empty reply is a lost etcd like any other.
  const bool plain_to_tls =
      !options_.https && !answered_once_ &&
      (answer.empty_reply ||
       (answer.status == 400 && answer.body.find("HTTPS server") != std::string::npos));
  if (plain_to_tls)
    C10_THROW_ERROR(DistStoreError,
                    std::string(answer.empty_reply ? "it closed a plain-HTTP request unanswered"
                                                   : "it serves TLS only") +
                        ": if it serves TLS, give --rdzv-conf protocol=https and ca_cert=CA.pem "
                        "(and ssl_cert, ssl_cert_key if it asks for a client certificate)");
  if (!answer.answered())
    C10_THROW_ERROR(DistNetworkError, "etcd at " + endpoint() + " did not answer " + path + ": " +
                                          oneLine(answer.detail));
  answered_once_ = true;
  *status = answer.status;
  return std::move(answer.body);
}

void EtcdStore::authenticate() {
  token_.clear();
  long status = 0;
  const std::string body =
      postOnce("/v3/auth/authenticate",
               json{{"name", options_.user}, {"password", options_.password}}.dump(), &status);
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (status != 200 || !j.is_object() || !j.contains("token"))
    C10_THROW_ERROR(DistStoreError,
                    "etcd at " + endpoint() + " refused user '" + options_.user + "': " +
                        (j.is_object() && j.contains("error") ? j["error"].get<std::string>()
                                                              : "HTTP " + std::to_string(status)) +
                        " (check TRAINRUN_ETCD_USER and TRAINRUN_ETCD_PASSWORD)");
  token_ = j["token"].get<std::string>();
}

std::string EtcdStore::post(const std::string& path, const std::string& body) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int attempt = 0;; ++attempt) {
    long status = 0;
    std::string out = postOnce(path, body, &status);
    if (status == 200) return out;
    const json j = json::parse(out, nullptr, /*allow_exceptions=*/false);
    const std::string error = j.is_object() && j.contains("error") && j["error"].is_string()
                                  ? j["error"].get<std::string>()
                                  : "HTTP " + std::to_string(status);
    // Auth tokens expire (etcd's simple tokens after 5 minutes idle): get a new one, once.
    if (attempt == 0 && !options_.user.empty() && error.find("token") != std::string::npos) {
      authenticate();
      continue;
    }
    C10_THROW_ERROR(DistStoreError,
                    "etcd at " + endpoint() + " refused " + path + ": " + oneLine(error));
  }
}

std::optional<EtcdStore::Kv> EtcdStore::range(const std::string& key) {
  const json j = json::parse(post("/v3/kv/range", json{{"key", b64(key)}}.dump()));
  if (!j.contains("kvs") || j["kvs"].empty()) return std::nullopt;
  const json& kv = j["kvs"][0];
  Kv out;
  out.value = kv.contains("value") ? base64Decode(kv["value"].get<std::string>()) : "";
  out.mod_revision = int64Field(kv, "mod_revision");
  out.lease = int64Field(kv, "lease");
  return out;
}

bool EtcdStore::create(const std::string& key, const std::string& value, int64_t lease) {
  json put = {{"key", b64(key)}, {"value", b64(value)}};
  if (lease != 0) put["lease"] = std::to_string(lease);
  const json txn = {{"compare", json::array({{{"key", b64(key)},
                                              {"target", "CREATE"},
                                              {"result", "EQUAL"},
                                              {"create_revision", "0"}}})},
                    {"success", json::array({{{"request_put", put}}})}};
  const json j = json::parse(post("/v3/kv/txn", txn.dump()));
  return j.value("succeeded", false);
}

bool EtcdStore::replace(const std::string& key, int64_t mod_revision, const std::string& value) {
  const json txn = {
      {"compare", json::array({{{"key", b64(key)},
                                {"target", "MOD"},
                                {"result", "EQUAL"},
                                {"mod_revision", std::to_string(mod_revision)}}})},
      {"success", json::array({{{"request_put", {{"key", b64(key)}, {"value", b64(value)}}}}})}};
  const json j = json::parse(post("/v3/kv/txn", txn.dump()));
  return j.value("succeeded", false);
}

void EtcdStore::set(const std::string& key, const std::vector<uint8_t>& value) {
  post("/v3/kv/put", json{{"key", b64(key)}, {"value", b64(bytesOf(value))}}.dump());
}

std::vector<uint8_t> EtcdStore::compareSet(const std::string& key,
                                           const std::vector<uint8_t>& expected,
                                           const std::vector<uint8_t>& desired) {
  // TCPStore's contract: a missing key is set only when `expected` is empty; either way the
  // value now held is returned (a missing key with a non-empty `expected` returns `expected`).
  while (true) {
    const std::optional<Kv> kv = range(key);
    if (!kv) {
      if (!expected.empty()) return expected;
      if (create(key, bytesOf(desired), 0)) return desired;
      continue;  // created meanwhile: compare against that
    }
    if (kv->value != bytesOf(expected)) return vectorOf(kv->value);
    if (replace(key, kv->mod_revision, bytesOf(desired))) return desired;
  }
}

std::vector<uint8_t> EtcdStore::get(const std::string& key) {
  wait({key}, timeout_);
  const std::optional<Kv> kv = range(key);
  if (!kv) C10_THROW_ERROR(DistStoreError, "etcd: key " + key + " was deleted while read");
  return vectorOf(kv->value);
}

int64_t EtcdStore::add(const std::string& key, int64_t delta) {
  while (true) {
    const std::optional<Kv> kv = range(key);
    if (!kv) {
      if (create(key, std::to_string(delta), 0)) return delta;
      continue;
    }
    int64_t value = 0;
    try {
      value = std::stoll(kv->value);
    } catch (const std::exception&) {
      C10_THROW_ERROR(DistStoreError, "etcd: add() on key " + key + " that holds no integer");
    }
    if (delta == 0) return value;
    if (replace(key, kv->mod_revision, std::to_string(value + delta))) return value + delta;
  }
}

bool EtcdStore::deleteKey(const std::string& key) {
  const json j = json::parse(post("/v3/kv/deleterange", json{{"key", b64(key)}}.dump()));
  return int64Field(j, "deleted") > 0;
}

bool EtcdStore::check(const std::vector<std::string>& keys) {
  for (const auto& key : keys) {
    const json j =
        json::parse(post("/v3/kv/range", json{{"key", b64(key)}, {"count_only", true}}.dump()));
    if (int64Field(j, "count") == 0) return false;
  }
  return true;
}

int64_t EtcdStore::getNumKeys() {
  // key "\0" with range_end "\0": every key.
  const json j = json::parse(post("/v3/kv/range", json{{"key", b64(std::string(1, '\0'))},
                                                       {"range_end", b64(std::string(1, '\0'))},
                                                       {"count_only", true}}
                                                      .dump()));
  return int64Field(j, "count");
}

void EtcdStore::wait(const std::vector<std::string>& keys,
                     const std::chrono::milliseconds& timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  std::chrono::milliseconds pause(2);
  while (!check(keys)) {
    if (timeout != kNoTimeout && Clock::now() > deadline)
      C10_THROW_ERROR(DistStoreError, "etcd: wait timeout after " +
                                          std::to_string(timeout.count()) +
                                          "ms, keys: " + keyList(keys));
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

bool EtcdStore::keepAlive(int64_t lease) {
  const std::string body = post("/v3/lease/keepalive", json{{"ID", std::to_string(lease)}}.dump());
  // A streaming call: one JSON object per line, {"result": {..., "TTL": "5"}}; an expired
  // lease answers without a TTL.
  const json j = json::parse(body.substr(0, body.find('\n')));
  return j.contains("result") && int64Field(j["result"], "TTL") > 0;
}

bool EtcdStore::holdLease(const std::string& key, const std::string& value,
                          std::chrono::milliseconds ttl) {
  const int64_t seconds = std::max<int64_t>(2, (ttl.count() + 999) / 1000);
  if (lease_ != 0) {
    if (keepAlive(lease_)) {
      const std::optional<Kv> kv = range(key);
      if (kv && kv->value == value && kv->lease == lease_) return true;
    }
    lease_ = 0;
  }
  const std::optional<Kv> kv = range(key);
  if (kv) {
    // Held by this leader through another handle (the launcher's main thread, then its
    // poller): share its lease rather than wait for it to lapse.
    if (kv->value == value && kv->lease != 0 && keepAlive(kv->lease)) {
      lease_ = kv->lease;
      return true;
    }
    return false;
  }
  const json grant =
      json::parse(post("/v3/lease/grant", json{{"TTL", std::to_string(seconds)}}.dump()));
  const int64_t lease = int64Field(grant, "ID");
  if (lease == 0) C10_THROW_ERROR(DistStoreError, "etcd at " + endpoint() + " granted no lease");
  if (create(key, value, lease)) {
    lease_ = lease;
    return true;
  }
  post("/v3/lease/revoke", json{{"ID", std::to_string(lease)}}.dump());
  return false;
}

}  // namespace trainrun
