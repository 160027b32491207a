// Tests of the spot-notice watcher: IMDS parsing, EC2 detection, endpoint choice, polling.
#include "preemption/spot_notice.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "fake_http_server.h"
#include "preemption/node_preemption.h"
#include "support/temp_dir.h"

namespace trainrun::launch {
namespace {

using trainrun::testing::FakeHttpServer;
using trainrun::testing::FakeRequest;
using trainrun::testing::FakeResponse;

constexpr const char* kNotice = R"({"action": "terminate", "time": "2026-11-26T10:00:00Z"})";

// A folder standing for / (TRAINRUN_FS_ROOT), removed at the end.
struct FsRoot {
  const trainrun::testing::TempDir dir{"spot_notice_test"};
  void write(const std::string& file, const std::string& text) const {
    std::filesystem::create_directories(std::filesystem::path(path + file).parent_path());
    std::ofstream(path + file) << text;
  }
  const std::string path = dir.str();
};

std::function<std::string(const std::string&)> envOf(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) {
    auto it = vars.find(name);
    return it == vars.end() ? std::string() : it->second;
  };
}

// Polls `pred` every 20 ms for up to `seconds`.
template <typename Pred>
bool eventually(Pred pred, double seconds = 5) {
  for (int i = 0; i < seconds * 50; ++i) {
    if (pred()) return true;
    ::usleep(20000);
  }
  return pred();
}

TEST(SpotNoticeTest, ParsesInstanceAction) {
  auto n = parseInstanceAction(kNotice);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->action, "terminate");
  EXPECT_EQ(n->time, "2026-11-26T10:00:00Z");
  EXPECT_EQ(
      std::chrono::duration_cast<std::chrono::seconds>(n->deadline.time_since_epoch()).count(),
      1795687200);
  EXPECT_FALSE(parseInstanceAction("<html>not found</html>"));
  EXPECT_FALSE(parseInstanceAction(R"({"action": "stop"})"));
  EXPECT_FALSE(parseInstanceAction(R"({"action": "stop", "time": "soon"})"));
  EXPECT_FALSE(parseInstanceAction(R"({"time": "2026-11-26T10:00:00Z"})"));
}

TEST(SpotNoticeTest, DetectsEc2FromDmi) {
  FsRoot none;
  EXPECT_FALSE(isEc2Host(none.path));
  FsRoot qemu;
  qemu.write("/sys/devices/virtual/dmi/id/sys_vendor", "QEMU\n");
  qemu.write("/sys/devices/virtual/dmi/id/product_uuid", "4c4c4544-0000\n");
  EXPECT_FALSE(isEc2Host(qemu.path));
  FsRoot nitro;
  nitro.write("/sys/devices/virtual/dmi/id/sys_vendor", "Amazon EC2\n");
  EXPECT_TRUE(isEc2Host(nitro.path));
  FsRoot tag;
  tag.write("/sys/devices/virtual/dmi/id/board_asset_tag", "i-0123456789abcdef0\n");
  EXPECT_TRUE(isEc2Host(tag.path));
  FsRoot xen;
  xen.write("/sys/devices/virtual/dmi/id/product_uuid", "EC2E1916-9099-7CAF-FD21-012345ABCDEF\n");
  EXPECT_TRUE(isEc2Host(xen.path));
}

TEST(SpotNoticeTest, WatchesTheLinkLocalServiceOnlyOnEc2) {
  FsRoot laptop, ec2;
  ec2.write("/sys/devices/virtual/dmi/id/sys_vendor", "Amazon EC2\n");
  EXPECT_EQ(spotWatchEndpoint(envOf({}), laptop.path), "");
  EXPECT_EQ(spotWatchEndpoint(envOf({}), ec2.path), "http://169.254.169.254");
  EXPECT_EQ(spotWatchEndpoint(envOf({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9/"}}),
                              laptop.path),
            "http://127.0.0.1:9");
  EXPECT_EQ(spotWatchEndpoint(envOf({{"AWS_EC2_METADATA_DISABLED", "true"},
                                     {"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9"}}),
                              ec2.path),
            "");
}

SpotWatchOptions fastOptions(const std::string& url) {
  SpotWatchOptions o;
  o.endpoint = url;
  o.interval = std::chrono::milliseconds(50);
  return o;
}

TEST(SpotNoticeTest, SeesANoticeWithAnImdsV2Token) {
  std::atomic<bool> announce{false};
  FakeHttpServer server([&](const FakeRequest& r) {
    if (r.method == "PUT" && r.target == "/latest/api/token") {
      if (r.headers.count("x-aws-ec2-metadata-token-ttl-seconds") == 0) return FakeResponse{400};
      return FakeResponse{200, "tok"};
    }
    if (r.headers.count("x-aws-ec2-metadata-token") == 0 ||
        r.headers.at("x-aws-ec2-metadata-token") != "tok")
      return FakeResponse{401};
    if (r.target == "/latest/meta-data/spot/instance-action" && announce)
      return FakeResponse{200, kNotice};
    return FakeResponse{404};
  });
  SpotNoticeWatcher watcher(fastOptions(server.url()));
  EXPECT_TRUE(eventually([&] { return server.requests().size() >= 6; }));
  EXPECT_FALSE(watcher.notice());
  announce = true;
  ASSERT_TRUE(eventually([&] { return watcher.notice().has_value(); }));
  EXPECT_EQ(watcher.notice()->action, "terminate");
  int puts = 0;
  for (const auto& r : server.requests()) puts += r.method == "PUT";
  EXPECT_EQ(puts, 1) << "the session token is reused between polls";
}

TEST(SpotNoticeTest, RenewsARefusedTokenAndWarnsOnceOfRebalance) {
  std::atomic<int> tokens{0};
  FakeHttpServer server([&](const FakeRequest& r) {
    if (r.method == "PUT") return FakeResponse{200, "tok" + std::to_string(++tokens)};
    if (r.headers.count("x-aws-ec2-metadata-token") == 0 ||
        r.headers.at("x-aws-ec2-metadata-token") != "tok2")
      return FakeResponse{401};  // the first token "expired"
    if (r.target == "/latest/meta-data/events/recommendations/rebalance")
      return FakeResponse{200, R"({"noticeTime": "2026-11-26T09:50:00Z"})"};
    return FakeResponse{404};
  });
  ::testing::internal::CaptureStderr();
  {
    SpotNoticeWatcher watcher(fastOptions(server.url()));
    EXPECT_TRUE(eventually([&] { return server.requests().size() >= 10; }));
    EXPECT_FALSE(watcher.notice());
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(tokens, 2);
  EXPECT_EQ(err,
            "trainrun: warning: EC2 rebalance recommendation at 2026-11-26T09:50:00Z: this spot "
            "instance is at elevated risk of interruption; training goes on, and a spot "
            "interruption notice will stop it with an emergency checkpoint\n");
}

TEST(SpotNoticeTest, AServiceThatDoesNotAnswerIsOneWarning) {
  int port;
  {
    FakeHttpServer gone([](const FakeRequest&) { return FakeResponse{404}; });
    port = gone.port();
  }
  ::testing::internal::CaptureStderr();
  const auto start = std::chrono::steady_clock::now();
  {
    SpotNoticeWatcher watcher(fastOptions("http://127.0.0.1:" + std::to_string(port)));
    ::usleep(300000);
    EXPECT_FALSE(watcher.notice());
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find("does not answer"), std::string::npos) << err;
}

TEST(NodePreemptionTest, WritesTheNoticeForRanksAndReadsTheOutcome) {
  FsRoot root;  // not EC2, no endpoint variable: no watcher, nothing sent anywhere
  std::string dir;
  {
    NodePreemption p([](auto) { return true; }, root.path);
    const std::string entry = p.envEntry();
    ASSERT_EQ(entry.rfind("TRAINRUN_PREEMPT_FILE=", 0), 0u);
    const std::string path = entry.substr(entry.find('=') + 1);
    dir = std::filesystem::path(path).parent_path();
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_FALSE(p.spotNotice());
    const auto before = std::chrono::system_clock::now();
    p.announce(p.sigtermNotice(std::chrono::seconds(30)));
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    auto notice = parsePreemptNotice(text.str());
    ASSERT_TRUE(notice);
    EXPECT_TRUE(notice->save);
    EXPECT_EQ(notice->reason, "SIGTERM");
    EXPECT_GE(notice->deadline, before + std::chrono::seconds(29));
    EXPECT_LE(notice->deadline, before + std::chrono::seconds(31));
    EXPECT_EQ(p.outcome(), "");
    std::ofstream(preemptOutcomePath(path)) << "emergency checkpoint committed at step 3\n";
    EXPECT_EQ(p.outcome(), "emergency checkpoint committed at step 3");
  }
  EXPECT_FALSE(std::filesystem::exists(dir)) << "the private folder is removed";
}

}  // namespace
}  // namespace trainrun::launch
