// NodePreemption: the notice file in a private folder, the spot watcher, rank 0's outcome.
#include "preemption/node_preemption.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "core/env.h"
#include "core/error.h"
#include "core/file.h"
#include "core/logging.h"
#include "core/strings.h"
#include "core/temp_dir.h"

namespace trainrun::launch {

NodePreemption::NodePreemption(StateOnlyHere state_only_here, const std::string& fs_root)
    : state_only_here_(std::move(state_only_here)) {
  dir_ = makeTempDir("trainrun-preempt-");
  if (dir_.empty()) {
    const std::string why = std::strerror(errno);
    throw ConfigError("cannot create a folder under " + tempBase() + " (" + why +
                      "); set TMPDIR to a writable folder");
  }
  path_ = dir_ + "/notice";
  const std::string endpoint =
      spotWatchEndpoint([](const std::string& n) { return env::get(n.c_str()); }, fs_root);
  if (!endpoint.empty()) {
    SpotWatchOptions options;
    options.endpoint = endpoint;
    watcher_ = std::make_unique<SpotNoticeWatcher>(options);
  }
}

NodePreemption::~NodePreemption() {
  watcher_.reset();
  for (const std::string& p : {preemptOutcomePath(path_), path_}) ::unlink(p.c_str());
  ::rmdir(dir_.c_str());
}

std::string NodePreemption::envEntry() const {
  return std::string(env::kPreemptFile) + "=" + path_;
}

std::optional<PreemptNotice> NodePreemption::spotNotice() {
  if (!watcher_) return std::nullopt;
  const std::optional<SpotNotice> spot = watcher_->notice();
  if (!spot) return std::nullopt;
  return PreemptNotice{spot->deadline,
                       "spot interruption notice: " + spot->action + " at " + spot->time,
                       state_only_here_(spot->deadline)};
}

PreemptNotice NodePreemption::sigtermNotice(std::chrono::milliseconds grace) const {
  const auto deadline = std::chrono::system_clock::now() + grace;
  return PreemptNotice{deadline, "SIGTERM", state_only_here_(deadline)};
}

void NodePreemption::announce(const PreemptNotice& notice) {
  try {
    writeFileAtomic(path_, formatPreemptNotice(notice));
  } catch (const StorageError& e) {
    log::warn(std::string("cannot tell the ranks of the preemption: ") + e.what());
  }
}

std::string NodePreemption::outcome() const {
  return trim(readWholeFile(preemptOutcomePath(path_)).value_or(""));
}

}  // namespace trainrun::launch
