// Test support: a real etcd server on loopback, in its own data directory, killed at the end.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "core/env.h"
#include "support/ports.h"
#include "support/temp_dir.h"

namespace trainrun::testing {

class EtcdServer {
 public:
  // The etcd binary on PATH; "" where none is installed (scripts/setup.sh installs etcd-server).
  static std::string binary() { return env::findOnPath("etcd"); }

  // Starts `binary` on a free client port; it serves about a second later (clients retry).
  explicit EtcdServer(const std::string& binary) : dir_("trainrun-etcd-test") {
    port_ = static_cast<uint16_t>(freeLoopbackPort());
    const std::string client = url();
    const std::string peer = "http://127.0.0.1:" + std::to_string(freeLoopbackPort());
    // Everything the child needs is built before fork(): it may only exec.
    const std::string log_path = (dir_.path() / "etcd.log").string();
    const std::string data = (dir_.path() / "data").string();
    const std::string cluster = "test=" + peer;
    pid_ = ::fork();
    if (pid_ == 0) {
      const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(log, 1);
      ::dup2(log, 2);
      ::execl(binary.c_str(), "etcd", "--name", "test", "--data-dir", data.c_str(),
              "--listen-client-urls", client.c_str(), "--advertise-client-urls", client.c_str(),
              "--listen-peer-urls", peer.c_str(), "--initial-advertise-peer-urls", peer.c_str(),
              "--initial-cluster", cluster.c_str(), nullptr);
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
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  TempDir dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace trainrun::testing
