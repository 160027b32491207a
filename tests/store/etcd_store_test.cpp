// Store over etcd: c10d's operations, leases, Gloo on top, auth, TLS with client certificates,
// and a lost or absent etcd, against a real etcd server the test starts on loopback.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "distributed/gloo/gloo_communicator.h"
#include "store/store.h"
#include "support/error_of.h"
#include "support/etcd_server.h"
#include "support/ports.h"
#include "support/scoped_env.h"

namespace trainrun {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using testing::EtcdServer;
constexpr milliseconds kTimeout{std::chrono::seconds(30)};

class EtcdStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string binary = EtcdServer::binary();
    // Only a machine without etcd skips: scripts/setup.sh installs it (etcd-server).
    if (binary.empty()) GTEST_SKIP() << "no etcd binary on PATH (apt-get install etcd-server)";
    for (const char* name :
         {"TRAINRUN_ETCD_USER", "TRAINRUN_ETCD_PASSWORD", "TRAINRUN_ETCD_PROTOCOL",
          "TRAINRUN_ETCD_CA_CERT", "TRAINRUN_ETCD_SSL_CERT", "TRAINRUN_ETCD_SSL_CERT_KEY"})
      env_.unset(name);
    server_ = std::make_unique<EtcdServer>(binary);
    // The first connect retries a refused connection for a few seconds; etcd starts in ~1 s.
    const auto until = Clock::now() + std::chrono::seconds(20);
    while (true) {
      try {
        connect("");
        return;
      } catch (const CommError&) {
        if (Clock::now() > until) throw;
      }
    }
  }
  std::unique_ptr<Store> connect(const std::string& prefix, milliseconds timeout = kTimeout) {
    return Store::connect(StoreBackend::kEtcd, "127.0.0.1", server_->port(), timeout, prefix);
  }
  testing::ScopedEnv env_;
  std::unique_ptr<EtcdServer> server_;
};

TEST_F(EtcdStoreTest, SetGetAddCheckDeleteAcrossHandles) {
  auto a = connect("run/x");
  auto b = connect("run/x");
  auto other = connect("run/y");
  a->set("k", std::string("v\0al", 4));
  EXPECT_EQ(b->get("k"), std::string("v\0al", 4));
  EXPECT_FALSE(other->check({"k"}));  // another prefix, another run
  EXPECT_TRUE(b->check({"k"}));
  EXPECT_FALSE(b->check({"k", "missing"}));
  EXPECT_EQ(a->add("n", 2), 2);
  EXPECT_EQ(b->add("n", 3), 5);
  EXPECT_EQ(b->add("n", 0), 5);
  EXPECT_EQ(a->get("n"), "5");  // a decimal string, as TCPStore keeps counters
  EXPECT_EQ(a->add("zero", 0), 0);
  EXPECT_TRUE(a->check({"zero"}));  // add(key, 0) creates the key, as TCPStore's does
  EXPECT_TRUE(a->c10dStore()->deleteKey("k"));
  EXPECT_FALSE(a->c10dStore()->deleteKey("k"));
  EXPECT_FALSE(b->check({"k"}));
  EXPECT_GE(a->c10dStore()->getNumKeys(), 2);
}

TEST_F(EtcdStoreTest, CompareSetFollowsTcpStoreContract) {
  auto s = connect("cas");
  EXPECT_EQ(s->compareSet("k", "x", "y"), "x");  // missing key, non-empty expected: not set
  EXPECT_FALSE(s->check({"k"}));
  EXPECT_EQ(s->compareSet("k", "", "first"), "first");
  EXPECT_EQ(s->compareSet("k", "", "second"), "first");  // exists: unchanged
  EXPECT_EQ(s->compareSet("k", "first", "third"), "third");
  EXPECT_EQ(s->get("k"), "third");
  s->add("gen", 0);
  EXPECT_EQ(s->compareSet("gen", "0", "1"), "1");  // the generation counter's use
}

TEST_F(EtcdStoreTest, ConcurrentAddsAndCompareSetsAreAtomic) {
  std::vector<std::thread> threads;
  std::atomic<int> won{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto s = connect("race");
      for (int i = 0; i < 25; ++i) s->add("n", 1);
      if (s->compareSet("once", "", std::to_string(t)) == std::to_string(t)) ++won;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(connect("race")->add("n", 0), 100);
  EXPECT_EQ(won.load(), 1);
}

TEST_F(EtcdStoreTest, WaitReturnsWhenSetAndTimesOutOtherwise) {
  auto s = connect("wait");
  std::thread setter([&] {
    std::this_thread::sleep_for(milliseconds(300));
    connect("wait")->set("late", "1");
  });
  const auto start = Clock::now();
  s->wait({"late"}, milliseconds(10000));
  EXPECT_LT(Clock::now() - start, milliseconds(3000));
  setter.join();
  const auto t0 = Clock::now();
  EXPECT_THROW(s->get("never", milliseconds(400)), TimeoutError);
  EXPECT_LT(Clock::now() - t0, milliseconds(3000));
}

TEST_F(EtcdStoreTest, GlooRendezvousOverEtcd) {
  std::vector<std::thread> threads;
  std::vector<double> sums(3, 0);
  for (int r = 0; r < 3; ++r) {
    threads.emplace_back([&, r] {
      auto s = connect("gloo");
      auto comm = makeGlooCommunicator(*s, "g/", r, 3, GlooOptions{});
      std::vector<torch::Tensor> t{torch::full({4}, double(r + 1))};
      comm->allreduce(t, ReduceOp::kSum)->wait();
      sums[r] = t[0][0].item<double>();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(sums, std::vector<double>(3, 6.0));
}

TEST_F(EtcdStoreTest, LeaseIsHeldRenewedAndTakenOverWhenItLapses) {
  auto a = connect("lead");
  auto a_again = connect("lead");
  auto b = connect("lead");
  const milliseconds ttl(2000);
  EXPECT_TRUE(a->holdLease("leader", "node-a", ttl));
  EXPECT_FALSE(b->holdLease("leader", "node-b", ttl));
  EXPECT_TRUE(a_again->holdLease("leader", "node-a", ttl));  // the same leader's other handle
  for (int i = 0; i < 6; ++i) {                              // 3 s of renewals: longer than the TTL
    std::this_thread::sleep_for(milliseconds(500));
    EXPECT_TRUE(a->holdLease("leader", "node-a", ttl));
    EXPECT_FALSE(b->holdLease("leader", "node-b", ttl));
  }
  EXPECT_EQ(b->get("leader"), "node-a");
  // a stops renewing: within the TTL (plus etcd's lease check) b leads.
  const auto until = Clock::now() + std::chrono::seconds(8);
  bool took = false;
  while (!took && Clock::now() < until) {
    took = b->holdLease("leader", "node-b", ttl);
    if (!took) std::this_thread::sleep_for(milliseconds(200));
  }
  EXPECT_TRUE(took);
  EXPECT_EQ(a->get("leader"), "node-b");
  EXPECT_FALSE(a->holdLease("leader", "node-a", ttl));
}

TEST_F(EtcdStoreTest, LostEtcdIsOneLineNamingIt) {
  auto s = connect("lost", milliseconds(2000));
  s->set("k", "v");
  server_->stop();
  const auto start = Clock::now();
  try {
    s->set("k", "w");
    FAIL() << "set succeeded without etcd";
  } catch (const CommError& e) {
    const std::string what = e.what();
    EXPECT_NE(
        what.find("lost the connection to etcd at 127.0.0.1:" + std::to_string(server_->port())),
        std::string::npos)
        << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
  EXPECT_LT(Clock::now() - start, milliseconds(5000));
}

TEST_F(EtcdStoreTest, NothingListeningFailsFastNamingTheEndpoint) {
  const int port = testing::freeLoopbackPort();
  const auto start = Clock::now();
  try {
    Store::connect(StoreBackend::kEtcd, "127.0.0.1", port, kTimeout);
    FAIL() << "connected to nothing";
  } catch (const CommError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cannot reach etcd at 127.0.0.1:" + std::to_string(port)),
              std::string::npos)
        << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
  EXPECT_LT(Clock::now() - start, milliseconds(6000));
}

TEST_F(EtcdStoreTest, AuthenticatedEtcdNeedsTheUserAndPassword) {
  const fs::path etcdctl = fs::path(EtcdServer::binary()).parent_path() / "etcdctl";
  if (::access(etcdctl.c_str(), X_OK) != 0) GTEST_SKIP() << "no etcdctl (etcd-client)";
  const std::string ctl =
      "ETCDCTL_API=3 " + etcdctl.string() + " --endpoints=" + server_->url() + " >/dev/null 2>&1 ";
  ASSERT_EQ(std::system((ctl + "user add root:s3cret").c_str()), 0);
  // A user allowed one prefix, as docs/operations.md sets one up for a run's keys.
  ASSERT_EQ(std::system((ctl + "user add job:j0b").c_str()), 0);
  ASSERT_EQ(std::system((ctl + "role add job").c_str()), 0);
  ASSERT_EQ(std::system((ctl + "role grant-permission job readwrite auth/ --prefix").c_str()), 0);
  ASSERT_EQ(std::system((ctl + "user grant-role job job").c_str()), 0);
  ASSERT_EQ(std::system((ctl + "auth enable").c_str()), 0);
  try {
    connect("auth");
    FAIL() << "connected without credentials";
  } catch (const CommError& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
  ::setenv("TRAINRUN_ETCD_USER", "root", 1);
  ::setenv("TRAINRUN_ETCD_PASSWORD", "wrong", 1);
  EXPECT_THROW(connect("auth"), CommError);
  ::setenv("TRAINRUN_ETCD_PASSWORD", "s3cret", 1);
  auto s = connect("auth");
  s->set("k", "v");
  EXPECT_EQ(s->get("k"), "v");
  EXPECT_TRUE(s->holdLease("leader", "me", milliseconds(2000)));
  ::setenv("TRAINRUN_ETCD_USER", "job", 1);
  ::setenv("TRAINRUN_ETCD_PASSWORD", "j0b", 1);
  EXPECT_THROW(connect("elsewhere"), CommError);  // outside its prefix
  auto job = connect("auth");
  EXPECT_EQ(job->get("k"), "v");
  EXPECT_EQ(job->add("n", 2), 2);
  EXPECT_TRUE(job->holdLease("leader2", "me", milliseconds(2000)));
  EXPECT_TRUE(job->holdLease("leader2", "me", milliseconds(2000)));  // renewed
  ::unsetenv("TRAINRUN_ETCD_USER");
  ::unsetenv("TRAINRUN_ETCD_PASSWORD");
}

// The error a connection to `port` raises, "" when it connects and works.
std::string connectError(uint16_t port) {
  try {
    auto s = Store::connect(StoreBackend::kEtcd, "127.0.0.1", port, kTimeout, "tls");
    s->set("k", "v");
    return s->get("k") == "v" ? "" : "read back another value";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    return e.what();
  }
}

TEST_F(EtcdStoreTest, TlsWithAClientCertificateAndEachMistakeInOneLine) {
  const testing::TempDir certs("trainrun-etcd-certs");
  ASSERT_EQ(std::system(("sh " TRAINRUN_SOURCE_DIR "/tests/support/test_certs.sh " + certs.str() +
                         " 127.0.0.1 >/dev/null 2>&1")
                            .c_str()),
            0);
  EtcdServer tls(EtcdServer::binary(), certs.str());
  const std::string dir = certs.str();
  env_.set("TRAINRUN_ETCD_PROTOCOL", "https");
  env_.set("TRAINRUN_ETCD_CA_CERT", dir + "/ca.pem");
  env_.set("TRAINRUN_ETCD_SSL_CERT", dir + "/client.pem");
  env_.set("TRAINRUN_ETCD_SSL_CERT_KEY", dir + "/client.key");
  const auto until = Clock::now() + std::chrono::seconds(20);  // etcd starts in ~1 s
  std::string error = connectError(tls.port());
  while (!error.empty() && error.find("cannot reach") != std::string::npos && Clock::now() < until)
    error = connectError(tls.port());
  EXPECT_EQ(error, "");
  // No client certificate: etcd refuses the handshake.
  env_.unset("TRAINRUN_ETCD_SSL_CERT");
  env_.unset("TRAINRUN_ETCD_SSL_CERT_KEY");
  error = connectError(tls.port());
  EXPECT_NE(error.find("TLS failed"), std::string::npos) << error;
  EXPECT_NE(error.find("ssl_cert and ssl_cert_key"), std::string::npos) << error;
  // A CA that did not sign etcd's certificate.
  env_.set("TRAINRUN_ETCD_CA_CERT", dir + "/other-ca.pem");
  env_.set("TRAINRUN_ETCD_SSL_CERT", dir + "/client.pem");
  env_.set("TRAINRUN_ETCD_SSL_CERT_KEY", dir + "/client.key");
  error = connectError(tls.port());
  EXPECT_NE(error.find("TLS failed"), std::string::npos) << error;
  EXPECT_NE(error.find("check --rdzv-conf ca_cert"), std::string::npos) << error;
  // Plain HTTP to it.
  env_.unset("TRAINRUN_ETCD_PROTOCOL");
  env_.unset("TRAINRUN_ETCD_CA_CERT");
  env_.unset("TRAINRUN_ETCD_SSL_CERT");
  env_.unset("TRAINRUN_ETCD_SSL_CERT_KEY");
  error = connectError(tls.port());
  EXPECT_NE(error.find("if it serves TLS, give --rdzv-conf protocol=https"), std::string::npos)
      << error;
  // Settings that cannot work fail before any connection, as config errors (exit code 2).
  auto configError = [&] {
    return testing::errorOf(
        [&] { Store::connect(StoreBackend::kEtcd, "127.0.0.1", tls.port(), kTimeout, "tls"); });
  };
  env_.set("TRAINRUN_ETCD_CA_CERT", dir + "/ca.pem");
  EXPECT_NE(configError().find("needs --rdzv-conf protocol=https"), std::string::npos);
  env_.set("TRAINRUN_ETCD_PROTOCOL", "https");
  env_.set("TRAINRUN_ETCD_CA_CERT", dir + "/missing.pem");
  EXPECT_NE(configError().find("missing.pem (--rdzv-conf ca_cert, $TRAINRUN_ETCD_CA_CERT) cannot "
                               "be read"),
            std::string::npos)
      << configError();
  env_.set("TRAINRUN_ETCD_PROTOCOL", "spdy");
  EXPECT_NE(configError().find("neither http nor https"), std::string::npos) << configError();
}

}  // namespace
}  // namespace trainrun
