// hostRendezvous: Store::host plus the user-facing note about a port fallback.
#include "launch/rendezvous.h"

#include <c10/util/Logging.h>
#include <unistd.h>

#include "core/file.h"

namespace trainrun::launch {
namespace {

// c10d logs every failed bind through c10's logging (several lines). A taken port is
// expected and reported in one line below, and a total failure surfaces as Store::host's
// CommError, so mute c10 logging below FATAL meanwhile.
class QuietC10Log {
 public:
  QuietC10Log() : saved_(FLAGS_caffe2_log_level) { FLAGS_caffe2_log_level = c10::GLOG_FATAL; }
  ~QuietC10Log() { FLAGS_caffe2_log_level = saved_; }

 private:
  int saved_;
};

}  // namespace

HostedRendezvous hostRendezvous(const LaunchOptions& opts, std::chrono::milliseconds timeout) {
  HostedRendezvous r;
  {
    QuietC10Log quiet;
    r.store = Store::host(opts.master_port, timeout);
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
