// hostRendezvous: Store::host plus the user-facing note about a port fallback.
#include "launch/rendezvous.h"

#include <c10/util/Logging.h>
#include <unistd.h>

#include "core/file.h"

namespace trainrun::launch {
namespace {

constexpr const char* kLoopback = "127.0.0.1";

}  // namespace

QuietC10Log::QuietC10Log() : saved_(FLAGS_caffe2_log_level) {
  FLAGS_caffe2_log_level = c10::GLOG_FATAL;
}

QuietC10Log::~QuietC10Log() { FLAGS_caffe2_log_level = saved_; }

HostedRendezvous hostRendezvous(const LaunchOptions& opts, std::chrono::milliseconds timeout) {
  HostedRendezvous r;
  {
    QuietC10Log quiet;
    // One node: the store is for this machine's ranks alone.
    r.store = Store::host(opts.master_port, timeout, kLoopback);
  }
  r.endpoint = Endpoint{kLoopback, r.store->port()};
  if (opts.master_port != 0 && r.endpoint.port != opts.master_port) {
    writeLine(STDERR_FILENO, "trainrun: port " + std::to_string(opts.master_port) +
                                 " is taken; rendezvous store at " + r.endpoint.addr + ":" +
                                 std::to_string(r.endpoint.port));
  }
  return r;
}

}  // namespace trainrun::launch
