// EC2 spot interruption notices (IMDSv2 spot/instance-action), watched from a thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "storage/s3/metadata_http.h"

namespace trainrun::launch {

struct SpotNotice {
  std::string action;                              // terminate, stop or hibernate
  std::string time;                                // as IMDS sent it: "2026-11-26T10:00:00Z"
  std::chrono::system_clock::time_point deadline;  // `time`, parsed
};

// The body of GET /latest/meta-data/spot/instance-action, {"action": ..., "time": ...};
// nullopt when it is not that.
std::optional<SpotNotice> parseInstanceAction(const std::string& body);

// True when DMI under `fs_root` (TRAINRUN_FS_ROOT, "" for /) says this host is an EC2
// instance: sys_vendor "Amazon EC2", board_asset_tag an instance id (i-...), or product_uuid
// (or Xen's /sys/hypervisor/uuid) starting with ec2, as AWS documents.
bool isEc2Host(const std::string& fs_root);

// The metadata service to watch, or "" for none: nothing when AWS_EC2_METADATA_DISABLED is
// true; AWS_EC2_METADATA_SERVICE_ENDPOINT when set; the link-local default only on a host that
// isEc2Host(), so nothing is ever sent to 169.254.169.254 elsewhere.
std::string spotWatchEndpoint(const std::function<std::string(const std::string&)>& env,
                              const std::string& fs_root);

struct SpotWatchOptions {
  std::string endpoint;  // base URL, e.g. http://169.254.169.254
  std::chrono::milliseconds interval{2000};
  // Per request: a poll is at most a token PUT plus two GETs, so about 3 s when all time out.
  s3::MetadataTimeouts timeouts{std::chrono::milliseconds(500), std::chrono::milliseconds(1000)};
};

// Polls `endpoint` every `interval` from a background thread: spot/instance-action (404: no
// notice) and events/recommendations/rebalance (logged once as a warning; training goes on).
// The first notice is kept; notice() reads it without blocking. Logs once when the service
// does not answer. The destructor stops the thread within one request's timeout.
class SpotNoticeWatcher {
 public:
  explicit SpotNoticeWatcher(SpotWatchOptions options);
  ~SpotNoticeWatcher();
  SpotNoticeWatcher(const SpotNoticeWatcher&) = delete;
  SpotNoticeWatcher& operator=(const SpotNoticeWatcher&) = delete;

  std::optional<SpotNotice> notice();

 private:
  void loop();
  void pollOnce();
  // GET of a meta-data path with the session token (fetched, and refetched after a 401).
  s3::MetadataResponse get(const std::string& path);

  SpotWatchOptions options_;
  std::string token_;
  bool warned_unreachable_ = false, warned_rebalance_ = false;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::optional<SpotNotice> notice_;
  std::thread thread_;
};

}  // namespace trainrun::launch
