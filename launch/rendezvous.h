// Hosting the job's rendezvous store on this node (the launcher is its server).
#pragma once

#include <memory>

#include "dist/store.h"
#include "launch/cli.h"
#include "launch/worker_spec.h"

namespace trainrun::launch {

// The hosted store and the endpoint ranks are told to use.
struct HostedRendezvous {
  std::unique_ptr<Store> store;  // serves until destroyed: keep it alive while ranks run
  Endpoint endpoint;
};

// Hosts the store on opts.master_port. If that port is taken, hosts it on a free port and
// prints "trainrun: port P is taken; rendezvous store at ADDR:Q" to stderr. Throws CommError
// if no port works.
HostedRendezvous hostRendezvous(const LaunchOptions& opts);

}  // namespace trainrun::launch
