// Hosting the job's rendezvous store on this node (the launcher is its server).
#pragma once

#include <chrono>
#include <memory>

#include "launch/cli.h"
#include "launch/worker_spec.h"
#include "store/store.h"

namespace trainrun::launch {

// Mutes c10's logging below FATAL while it lives (one thread at a time: it saves and restores a
// global). c10d logs every failed bind or connect attempt (several `E... socket.cpp` lines);
// trainrun reports the outcome itself in one line.
class QuietC10Log {
 public:
  QuietC10Log();
  ~QuietC10Log();
  QuietC10Log(const QuietC10Log&) = delete;
  QuietC10Log& operator=(const QuietC10Log&) = delete;

 private:
  int saved_;
};

// The hosted store and the endpoint ranks are told to use.
struct HostedRendezvous {
  std::unique_ptr<Store> store;  // serves until destroyed: keep it alive while ranks run
  Endpoint endpoint;
};

// Hosts the store on 127.0.0.1:opts.master_port (one node: nothing off this machine reaches
// it), with the group's deadline (dist.timeout_s). If that port is
// taken, hosts it on a free port and prints "trainrun: port P is taken; rendezvous store at ADDR:Q"
// to stderr. Throws CommError if no port works.
HostedRendezvous hostRendezvous(const LaunchOptions& opts, std::chrono::milliseconds timeout);

// The store's deadline when the ranks run a program without a trainrun config (dist.timeout_s's
// default).
inline constexpr std::chrono::milliseconds kStoreTimeoutWithoutConfig{std::chrono::minutes(5)};

}  // namespace trainrun::launch
