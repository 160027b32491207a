// SpotNoticeWatcher: IMDSv2 polling (session token, instance-action, rebalance) and EC2 checks.
#include "preemption/spot_notice.h"

#include <cctype>
#include <nlohmann/json.hpp>

#include "core/env.h"
#include "core/file.h"
#include "core/logging.h"
#include "core/strings.h"

namespace trainrun::launch {
namespace {

constexpr const char* kInstanceActionPath = "/latest/meta-data/spot/instance-action";
constexpr const char* kRebalancePath = "/latest/meta-data/events/recommendations/rebalance";

bool startsWith(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// The string field `key` of a JSON object body, or "".
std::string jsonField(const std::string& body, const char* key) {
  const nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains(key) || !doc[key].is_string()) return "";
  return doc[key].get<std::string>();
}

}  // namespace

std::optional<SpotNotice> parseInstanceAction(const std::string& body) {
  SpotNotice notice;
  notice.action = jsonField(body, "action");
  notice.time = jsonField(body, "time");
  const auto deadline = s3::parseIso8601(notice.time);
  if (notice.action.empty() || !deadline) return std::nullopt;
  notice.deadline = *deadline;
  return notice;
}

bool isEc2Host(const std::string& fs_root) {
  auto read = [&](const std::string& path) {
    return lowercase(trim(readWholeFile(fs_root + path).value_or("")));
  };
  const std::string dmi = "/sys/devices/virtual/dmi/id/";
  return read(dmi + "sys_vendor") == "amazon ec2" ||
         startsWith(read(dmi + "board_asset_tag"), "i-") ||
         startsWith(read(dmi + "product_uuid"), "ec2") ||
         startsWith(read("/sys/hypervisor/uuid"), "ec2");
}

std::string spotWatchEndpoint(const std::function<std::string(const std::string&)>& env,
                              const std::string& fs_root) {
  const std::string disabled = env(env::kAwsEc2MetadataDisabled);
  if (disabled == "true" || disabled == "TRUE" || disabled == "1") return "";
  std::string endpoint = env(env::kAwsEc2MetadataServiceEndpoint);
  if (endpoint.empty() && isEc2Host(fs_root)) endpoint = s3::kImdsDefaultEndpoint;
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  return endpoint;
}

SpotNoticeWatcher::SpotNoticeWatcher(SpotWatchOptions options) : options_(std::move(options)) {
  thread_ = std::thread([this] { loop(); });
}

SpotNoticeWatcher::~SpotNoticeWatcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::optional<SpotNotice> SpotNoticeWatcher::notice() {
  std::lock_guard<std::mutex> lock(mu_);
  return notice_;
}

void SpotNoticeWatcher::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_ && !notice_) {
    lock.unlock();
    pollOnce();
    lock.lock();
    wake_.wait_for(lock, options_.interval, [this] { return stop_; });
  }
}

s3::MetadataResponse SpotNoticeWatcher::get(const std::string& path) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (token_.empty()) {
      const auto token = s3::imdsToken(options_.endpoint, options_.timeouts, /*attempts=*/1);
      if (!token) return s3::MetadataResponse{"no IMDSv2 session token", 0, ""};
      token_ = *token;
    }
    s3::MetadataResponse r = s3::metadataRequest("GET", options_.endpoint + path,
                                                 {s3::imdsTokenHeader(token_)}, options_.timeouts);
    if (!(r.error.empty() && r.status == 401)) return r;
    token_.clear();  // expired: fetch a new one once
  }
  return s3::MetadataResponse{"the IMDSv2 session token was refused", 0, ""};
}

void SpotNoticeWatcher::pollOnce() {
  const s3::MetadataResponse action = get(kInstanceActionPath);
  if (!action.error.empty() || action.status >= 500) {
    if (!warned_unreachable_)
      log::warn("the EC2 instance metadata service at " + options_.endpoint + " does not answer (" +
                action.describe() +
                "); spot interruption notices go unseen until it does (in a container, IMDSv2 "
                "needs the instance's metadata hop limit at 2 or more)");
    warned_unreachable_ = true;
    return;
  }
  if (action.ok()) {
    if (auto notice = parseInstanceAction(action.body)) {
      std::lock_guard<std::mutex> lock(mu_);
      notice_ = notice;
      return;
    }
    log::warn("ignoring a spot instance-action that is not {\"action\", \"time\"}: " +
              oneLine(action.body.substr(0, 200)));
  }
  if (warned_rebalance_) return;
  const s3::MetadataResponse rebalance = get(kRebalancePath);
  if (!rebalance.ok()) return;  // 404: no recommendation
  const std::string when = jsonField(rebalance.body, "noticeTime");
  log::warn("EC2 rebalance recommendation" + (when.empty() ? "" : " at " + when) +
            ": this spot instance is at elevated risk of interruption; training goes on, and a "
            "spot interruption notice will stop it with an emergency checkpoint");
  warned_rebalance_ = true;
}

}  // namespace trainrun::launch
