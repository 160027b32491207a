// Atomic file replacement (temporary file, fsync, rename, fsync folder) and whole-line writes.
#include "core/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace trainrun {
namespace {

std::string reason() { return std::strerror(errno); }

// Throws StorageError for the failed `what`, after removing `tmp` (errno survives the unlink).
[[noreturn]] void fail(const std::string& what, const std::string& tmp) {
  const std::string message = what + ": " + reason();
  ::unlink(tmp.c_str());
  throw StorageError(message);
}

std::string folderOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::string tempPathBeside(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return path + kTempMarker + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

std::optional<std::string> readWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return s.str();
}

bool writeAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

void writeLine(int fd, const std::string& line) {
  std::string buf = line;
  buf.push_back('\n');
  writeAll(fd, buf.data(), buf.size());
}

void commitFileAtomic(const std::string& tmp, const std::string& path) {
  const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot write " + path + " (opening " + tmp + ")", tmp);
  if (::fsync(fd) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    fail("cannot write " + path + " (fsync)", tmp);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename " + tmp + " to " + path, tmp);
  // The rename is durable only once the folder entry is on disk. Best effort: the new file is
  // already in place, and some file systems cannot fsync a folder.
  const int dir = ::open(folderOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

void writeFileAtomic(const std::string& path, const void* data, size_t size) {
  const std::string tmp = tempPathBeside(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw StorageError("cannot create " + tmp + ": " + reason());
  if (!writeAll(fd, data, size)) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    fail("cannot write " + path, tmp);
  }
  if (::close(fd) != 0) fail("cannot write " + path, tmp);
  commitFileAtomic(tmp, path);
}

void writeFileAtomic(const std::string& path, const std::string& bytes) {
  writeFileAtomic(path, bytes.data(), bytes.size());
}

}  // namespace trainrun
