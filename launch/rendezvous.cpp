// hostRendezvous: Store::host plus the user-facing note about a port fallback.
#include "launch/rendezvous.h"

#include <glog/logging.h>
#include <unistd.h>

#include "launch/output_pump.h"

namespace trainrun::launch {
namespace {

// c10d logs every failed bind through glog (several lines, plus glog's own "Logging before
// InitGoogleLogging" notice). A taken port is expected and reported in one line below, and a
// total failure surfaces as Store::host's CommError, so mute glog below FATAL meanwhile.
class QuietGlog {
 public:
  QuietGlog() : saved_(FLAGS_minloglevel) { FLAGS_minloglevel = google::GLOG_FATAL; }
  ~QuietGlog() { FLAGS_minloglevel = saved_; }

 private:
  int saved_;
};

}  // namespace

HostedRendezvous hostRendezvous(const LaunchOptions& opts) {
  HostedRendezvous r;
  {
    QuietGlog quiet;
    r.store = Store::host(opts.master_port);
  }
  r.endpoint = Endpoint{opts.master_addr, r.store->port()};
  if (opts.master_port != 0 && r.endpoint.port != opts.master_port) {
    writeLine(STDERR_FILENO, "trainrun: port " + std::to_string(opts.master_port) +
                                 " is taken; rendezvous store at " + r.endpoint.addr + ":" +
                                 std::to_string(r.endpoint.port));
  }
  return r;
}

}  // namespace trainrun::launch
