// Test support: a real etcd server on loopback, in its own data directory, killed at the end;
// over TLS with client certificates when given test_certs.sh's folder.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/env.h"
#include "support/ports.h"
#include "support/temp_dir.h"

namespace trainrun::testing {

class EtcdServer {
 public:
  // The etcd binary on PATH; "" where none is installed (scripts/setup.sh installs etcd-server).
  static std::string binary() { return env::findOnPath("etcd"); }

  // Starts `binary` on a free client port; it serves about a second later (clients retry).
  // With `certs` (a folder test_certs.sh filled for 127.0.0.1) clients speak TLS and must
  // present a certificate its CA signed.
  explicit EtcdServer(const std::string& binary, const std::string& certs = "")
      : dir_("trainrun-etcd-test"), tls_(!certs.empty()) {
    port_ = static_cast<uint16_t>(freeLoopbackPort());
    const std::string client = url();
    const std::string peer = "http://127.0.0.1:" + std::to_string(freeLoopbackPort());
    // Everything the child needs is built before fork(): it may only exec.
    const std::string log_path = (dir_.path() / "etcd.log").string();
    const std::string data = (dir_.path() / "data").string();
    const std::string cluster = "test=" + peer;
    std::vector<std::string> args = {"etcd", "--name",
                                     "test", "--data-dir",
                                     data,   "--listen-client-urls",
                                     client, "--advertise-client-urls",
                                     client, "--listen-peer-urls",
                                     peer,   "--initial-advertise-peer-urls",
                                     peer,   "--initial-cluster",
                                     cluster};
    if (tls_)
      args.insert(args.end(),
                  {"--cert-file", certs + "/server.pem", "--key-file", certs + "/server.key",
                   "--client-cert-auth", "--trusted-ca-file", certs + "/ca.pem"});
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(log, 1);
      ::dup2(log, 2);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
  }
  ~EtcdServer() { stop(); }  // then dir_ goes, with etcd's data and log
  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  // Kills the server now (a lost etcd).
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  uint16_t port() const { return port_; }
  std::string url() const {
    return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_);
  }

 private:
  TempDir dir_;
  bool tls_ = false;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace trainrun::testing
