// OutputPump: a poll() loop over rank pipes with per-source line buffers.
#include "launch/output_pump.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "core/file.h"

namespace trainrun::launch {

OutputPump::OutputPump() {
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw Error(std::string("pipe: ") + std::strerror(errno));
  }
}

OutputPump::~OutputPump() {
  if (thread_.joinable()) finish(std::chrono::milliseconds(0));
  for (auto* list : {&sources_, &added_}) {
    for (auto& src : *list) {
      if (src.open) ::close(src.fd);
      if (src.open && src.file_fd >= 0) ::close(src.file_fd);
    }
  }
  ::close(wake_[0]);
  ::close(wake_[1]);
}

void OutputPump::add(int fd, int out_fd, std::string prefix, int file_fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::lock_guard<std::mutex> lock(mu_);
  if (!started_) {
    sources_.push_back(Source{fd, out_fd, std::move(prefix), file_fd, {}, true});
    return;
  }
  added_.push_back(Source{fd, out_fd, std::move(prefix), file_fd, {}, true});
  idle_ = false;
  char byte = 0;  // wake the loop: it polls the new source from its next round
  (void)!::write(wake_[1], &byte, 1);
}

void OutputPump::start() {
  std::lock_guard<std::mutex> lock(mu_);
  started_ = true;
  thread_ = std::thread([this] { loop(); });
}

void OutputPump::takeAdded() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& src : added_) sources_.push_back(std::move(src));
  added_.clear();
}

bool OutputPump::finish(std::chrono::milliseconds timeout) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait_for(lock, timeout, [this] { return loop_done_ || idle_; });
    finishing_ = true;
  }
  char byte = 1;
  (void)!::write(wake_[1], &byte, 1);
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  return all_eof_;
}

void OutputPump::loop() {
  std::vector<pollfd> fds;
  std::vector<Source*> owners;
  while (true) {
    takeAdded();
    fds.clear();
    owners.clear();
    for (auto& src : sources_) {
      if (!src.open) continue;
      fds.push_back(pollfd{src.fd, POLLIN, 0});
      owners.push_back(&src);
    }
    if (owners.empty()) {  // all at EOF so far; a restarted rank may still add()
      std::lock_guard<std::mutex> lock(mu_);
      if (added_.empty()) idle_ = true;
      if (finishing_) break;
      done_cv_.notify_all();
    }
    fds.push_back(pollfd{wake_[0], POLLIN, 0});
    // The timeout only bounds the wait; add() and finish() wake us through the self-pipe.
    int ready = ::poll(fds.data(), fds.size(), /*timeout_ms=*/1000);
    if (ready < 0 && errno != EINTR) break;
    if (fds.back().revents & POLLIN) {
      char drain[64];
      while (::read(wake_[0], drain, sizeof(drain)) > 0) {
      }
      std::lock_guard<std::mutex> lock(mu_);
      if (finishing_) break;  // finish(): stop waiting for EOF
    }
    for (size_t i = 0; i < owners.size(); ++i) {
      // One read per source per round, so a chatty rank cannot starve the others.
      if (fds[i].revents != 0 && readOnce(*owners[i]) == ReadResult::kClosed) close(*owners[i]);
    }
  }
  // Stopped early: take what the pipes hold right now (bounded: a writer may never stop),
  // then flush partial lines.
  constexpr int kFinalReads = 64;
  bool all_eof = true;
  for (auto& src : sources_) {
    if (!src.open) continue;
    ReadResult r = ReadResult::kData;
    for (int i = 0; i < kFinalReads && r == ReadResult::kData; ++i) r = readOnce(src);
    if (r != ReadResult::kClosed) all_eof = false;
    close(src);
  }
  std::lock_guard<std::mutex> lock(mu_);
  all_eof_ = all_eof;
  loop_done_ = true;
  done_cv_.notify_all();
}

OutputPump::ReadResult OutputPump::readOnce(Source& src) {
  char buf[65536];
  while (true) {
    ssize_t n = ::read(src.fd, buf, sizeof(buf));
    if (n > 0) {
      src.pending.append(buf, static_cast<size_t>(n));
      emitLines(src, /*at_eof=*/false);
      return ReadResult::kData;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return ReadResult::kEmpty;
    return ReadResult::kClosed;  // EOF, or an error that ends this source just the same
  }
}

void OutputPump::close(Source& src) {
  emitLines(src, /*at_eof=*/true);
  ::close(src.fd);
  if (src.file_fd >= 0) ::close(src.file_fd);
  src.open = false;
}

void OutputPump::emit(const Source& src, const std::string& line) {
  if (src.out_fd >= 0) writeLine(src.out_fd, src.prefix + line);
  if (src.file_fd >= 0) writeLine(src.file_fd, line);
}

void OutputPump::emitLines(Source& src, bool at_eof) {
  size_t start = 0;
  while (true) {
    size_t nl = src.pending.find('\n', start);
    if (nl == std::string::npos) break;
    emit(src, src.pending.substr(start, nl - start));
    start = nl + 1;
  }
  src.pending.erase(0, start);
  while (src.pending.size() > kMaxLineBytes) {
    emit(src, src.pending.substr(0, kMaxLineBytes));
    src.pending.erase(0, kMaxLineBytes);
  }
  if (at_eof && !src.pending.empty()) {
    emit(src, src.pending);
    src.pending.clear();
  }
}

}  // namespace trainrun::launch
