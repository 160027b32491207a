// HangExchange over the job's store: one claim per hang, the other nodes' answers, the verdict.
#include "hang/hang_exchange.h"

#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/clock.h"
#include "core/error.h"
#include "store/store_keys.h"

namespace trainrun::launch {
namespace {

// A request older than this is a hang long over: nobody answers it any more.
constexpr int64_t kRequestLifetimeMs = 120'000;

struct Stamped {
  HangRequest request;
  int64_t made_ms = 0;
};

std::optional<Stamped> parseRequest(const std::string& text) {
  std::istringstream in(text);
  Stamped s;
  if (!(in >> s.request.id >> s.request.node >> s.made_ms)) return std::nullopt;
  std::getline(in >> std::ws, s.request.why);
  return s;
}

}  // namespace

// The newest request seen in the store, and the newest this node answered or made.
struct HangExchange::Watch {
  std::mutex mu;
  std::optional<Stamped> latest;
  int64_t answered = 0;
  bool stop = false;
};

HangExchange::HangExchange(std::unique_ptr<Store> store, int node, Peers peers)
    : store_(std::move(store)),
      node_(node),
      peers_(std::move(peers)),
      watch_(std::make_shared<Watch>()) {
  std::thread([watch = watch_, store = store_] {
    while (true) {
      {
        std::lock_guard<std::mutex> lock(watch->mu);
        if (watch->stop) return;
      }
      std::optional<Stamped> latest;
      try {
        if (store->check({kHangRequestKey})) latest = parseRequest(store->get(kHangRequestKey));
      } catch (const std::exception&) {  // the rendezvous reports a lost store
      }
      {
        std::lock_guard<std::mutex> lock(watch->mu);
        if (latest) watch->latest = latest;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }).detach();
}

HangExchange::~HangExchange() {
  std::lock_guard<std::mutex> lock(watch_->mu);
  watch_->stop = true;
}

std::optional<HangRequest> HangExchange::pending() {
  std::lock_guard<std::mutex> lock(watch_->mu);
  const auto& s = watch_->latest;
  if (!s || s->request.id <= watch_->answered || s->request.node == node_ ||
      unixNowMs() - s->made_ms > kRequestLifetimeMs)
    return std::nullopt;
  return s->request;
}

bool HangExchange::claim(const std::string& why, HangRequest* request) {
  while (true) {
    const std::string current =
        store_->check({kHangRequestKey}) ? store_->get(kHangRequestKey) : "";
    const auto s = parseRequest(current);
    {
      std::lock_guard<std::mutex> lock(watch_->mu);
      if (s) watch_->latest = s;
    }
    if (const auto other = pending()) {  // another node's, not answered yet: answer it
      *request = *other;
      return false;
    }
    const int64_t id = (s ? s->request.id : 0) + 1;
    const std::string mine = std::to_string(id) + " " + std::to_string(node_) + " " +
                             std::to_string(unixNowMs()) + " " + why;
    if (store_->compareSet(kHangRequestKey, current, mine) == mine) {
      std::lock_guard<std::mutex> lock(watch_->mu);
      watch_->answered = std::max(watch_->answered, id);
      *request = HangRequest{id, node_, why};
      return true;
    }
    // Another node claimed first: the loop finds its request pending.
  }
}

void HangExchange::answer(int64_t id, const std::vector<RankEvidence>& evidence) {
  {
    std::lock_guard<std::mutex> lock(watch_->mu);
    watch_->answered = std::max(watch_->answered, id);
  }
  store_->set(hangAnswerKey(id, node_), formatEvidence(evidence, unixNowMs()));
}

std::vector<RankEvidence> HangExchange::collect(int64_t id,
                                                std::chrono::steady_clock::time_point deadline,
                                                std::vector<int>* missing) {
  std::vector<int> waiting = peers_(*store_);
  std::vector<RankEvidence> all;
  while (true) {
    for (auto it = waiting.begin(); it != waiting.end();) {
      if (!store_->check({hangAnswerKey(id, *it)})) {
        ++it;
        continue;
      }
      std::vector<RankEvidence> theirs =
          parseEvidence(store_->get(hangAnswerKey(id, *it)), unixNowMs());
      all.insert(all.end(), theirs.begin(), theirs.end());
      it = waiting.erase(it);
    }
    if (waiting.empty() || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (missing) *missing = waiting;
  return all;
}

void HangExchange::publishVerdict(int64_t id, const std::string& verdict) {
  store_->set(hangVerdictKey(id), verdict);
}

std::string HangExchange::verdict(int64_t id, std::chrono::steady_clock::time_point deadline) {
  while (!store_->check({hangVerdictKey(id)})) {
    if (std::chrono::steady_clock::now() >= deadline) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return store_->get(hangVerdictKey(id));
}

std::string formatEvidence(const std::vector<RankEvidence>& evidence, int64_t sent_ms) {
  nlohmann::json ranks = nlohmann::json::array();
  for (const RankEvidence& e : evidence) {
    nlohmann::json r = {{"rank", e.rank},
                        {"pid", e.pid},
                        {"process", e.process},
                        {"gdb", e.gdb},
                        {"unanswered", e.unanswered}};
    if (e.dump) r["dump"] = e.dump_text.empty() ? formatRankDump(*e.dump) : e.dump_text;
    if (e.progress) r["progress"] = formatProgress(*e.progress);
    ranks.push_back(std::move(r));
  }
  // Stacks and gdb output may hold bytes that are not UTF-8: replaced, never an exception.
  return nlohmann::json{{"sent_ms", sent_ms}, {"ranks", std::move(ranks)}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<RankEvidence> parseEvidence(const std::string& text, int64_t received_ms) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  std::vector<RankEvidence> out;
  if (!j.is_object() || !j.contains("ranks") || !j["ranks"].is_array()) return out;
  const int64_t offset = received_ms - j.value("sent_ms", received_ms);
  for (const nlohmann::json& r : j["ranks"]) {
    if (!r.is_object()) continue;
    RankEvidence e;
    e.rank = r.value("rank", -1);
    e.pid = r.value("pid", 0);
    e.process = r.value("process", std::string("unknown"));
    e.gdb = r.value("gdb", std::string());
    e.unanswered = r.value("unanswered", false);
    if (r.contains("dump") && r["dump"].is_string()) {
      e.dump_text = r["dump"].get<std::string>();
      e.dump = parseRankDump(e.dump_text);
      if (e.dump) {
        e.dump->time_ms += offset;
        if (e.dump->done_ms != 0) e.dump->done_ms += offset;
      }
    }
    if (r.contains("progress") && r["progress"].is_string()) {
      e.progress = parseProgress(r["progress"].get<std::string>());
      if (e.progress) {
        e.progress->beat_ms += offset;
        if (e.progress->open_since_ms != 0) e.progress->open_since_ms += offset;
        if (e.progress->done_ms != 0) e.progress->done_ms += offset;
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace trainrun::launch
