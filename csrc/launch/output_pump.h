// Copies ranks' stdout/stderr pipes to the launcher's (and log files), a whole line at a time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace trainrun::launch {

// One thread poll()s every source pipe; each complete line is written to its destination
// with the source's prefix ("[rank 1] ") in a single writeLine. A trailing partial line is
// flushed (with a newline added) at EOF. Threads: add() from any thread, before or after
// start() (a restarted rank's pipes join a running pump); finish() from the thread that called
// start().
class OutputPump {
 public:
  // A line longer than this is cut and flushed, so one runaway rank cannot exhaust memory.
  static constexpr size_t kMaxLineBytes = 1 << 20;

  OutputPump();
  ~OutputPump();  // stops reading at once if finish() was not called
  OutputPump(const OutputPump&) = delete;
  OutputPump& operator=(const OutputPump&) = delete;

  // Takes ownership of `fd` (read end of a pipe) and copies its lines to `out_fd` with the
  // prefix (-1: not to the console) and, unprefixed, to `file_fd` (-1: none; owned too).
  void add(int fd, int out_fd, std::string prefix, int file_fd = -1);
  void start();
  // Waits until every source reached EOF or `timeout` passed (a process outside the
  // launcher's reach may hold a pipe open); then reads what is buffered, flushes partial
  // lines, and joins. True if every source reached EOF.
  bool finish(std::chrono::milliseconds timeout);

 private:
  struct Source {
    int fd;
    int out_fd;  // -1: none
    std::string prefix;
    int file_fd;          // -1: none
    std::string pending;  // bytes after the last newline
    bool open = true;
  };
  enum class ReadResult { kData, kEmpty, kClosed };

  void loop();
  void takeAdded();  // moves sources add()ed while running into sources_ (loop thread)
  // One non-blocking read into src.pending; emits the complete lines.
  ReadResult readOnce(Source& src);
  // Flushes the partial line and closes the fd.
  void close(Source& src);
  void emitLines(Source& src, bool at_eof);
  static void emit(const Source& src, const std::string& line);  // to the console and file

  std::vector<Source> sources_;
  std::vector<Source> added_;  // guarded by mu_: add()ed, not yet polled
  bool started_ = false;       // guarded by mu_
  bool finishing_ = false;     // guarded by mu_; finish() asked the loop to stop
  bool idle_ = false;          // guarded by mu_; every source so far reached EOF
  std::thread thread_;
  int wake_[2] = {-1, -1};  // self-pipe: finish() writes to make loop() stop waiting
  std::mutex mu_;
  std::condition_variable done_cv_;
  bool loop_done_ = false;  // guarded by mu_; loop() returned
  bool all_eof_ = false;    // guarded by mu_; every source reached EOF
};

}  // namespace trainrun::launch
