// Local-disk Storage: atomic rename on write, pread on read, a directory walk for list.
#include "storage/local/local_storage.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "core/file.h"

namespace trainrun {
namespace {

namespace fs = std::filesystem;

std::string sysError(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// The error says the path does not exist (as opposed to: it cannot be examined).
bool missing(const std::error_code& ec) {
  return ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory;
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

class LocalStorage : public Storage {
 public:
  explicit LocalStorage(std::string root) : root_(std::move(root)) {}

  void put(const std::string& key, const void* data, size_t size) override {
    const fs::path path = fs::path(root_) / key;
    for (int attempt = 1;; ++attempt) {
      try {
        std::error_code ec;
        fs::create_directories(path.parent_path(), ec);
        if (ec)
          throw StorageError("cannot create folder " + path.parent_path().string() + ": " +
                             ec.message());
        writeFileAtomic(path.string(), data, size);
        return;
      } catch (const std::exception&) {
        // Another process sharing the folder (a node on NFS) deleted the last object in a
        // folder on the path, and so the folder (remove() drops emptied folders), while this
        // one made the path or wrote: make it again. Lasting failures (permissions, a full
        // disk) fail every attempt alike.
        if (attempt < 5) continue;
        throw;
      }
    }
  }

  void read(const std::string& key, uint64_t offset, uint64_t length, void* dst) override {
    const std::string path = (fs::path(root_) / key).string();
    FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
      if (errno == ENOENT) throw NotFoundError("no object " + path);
      throw StorageError(sysError("cannot open", path));
    }
    char* p = static_cast<char*>(dst);
    for (uint64_t done = 0; done < length;) {
      ssize_t n = ::pread(fd.get(), p + done, length - done, off_t(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw StorageError(sysError("cannot read", path));
      if (n == 0)
        throw StorageError(path + " is shorter than expected (" + std::to_string(offset + done) +
                           " of " + std::to_string(offset + length) + " bytes)");
      done += uint64_t(n);
    }
  }

  std::optional<uint64_t> size(const std::string& key) override {
    const fs::path path = fs::path(root_) / key;
    std::error_code ec;
    uint64_t n = fs::file_size(path, ec);
    if (!ec) return n;
    // Only "no such file" means missing; an unreadable disk or folder is not evidence.
    if (missing(ec)) return std::nullopt;
    throw StorageError("cannot stat " + path.string() + ": " + ec.message());
  }

  std::vector<std::string> list(const std::string& prefix) override {
    std::vector<std::string> keys;
    std::error_code ec;
    // A folder that does not exist holds no keys; one that cannot be examined is an error,
    // never an empty listing (that would read as "no checkpoints").
    if (!fs::is_directory(root_, ec)) {
      if (ec && !missing(ec)) throw StorageError("cannot list " + root_ + ": " + ec.message());
      return keys;
    }
    // Walk only the folder that can hold the prefix, not the whole root.
    fs::path start = fs::path(root_) / fs::path(prefix).parent_path();
    if (!fs::is_directory(start, ec)) {
      if (ec && !missing(ec))
        throw StorageError("cannot list " + start.string() + ": " + ec.message());
      return keys;
    }
    walk(start, prefix, keys);
    std::sort(keys.begin(), keys.end());
    return keys;
  }

  void remove(const std::string& key) override {
    const fs::path path = fs::path(root_) / key;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      throw StorageError(sysError("cannot delete", path.string()));
    // Drop folders the delete emptied (step-XXXXXXXX/), up to the root; rmdir fails if not empty.
    for (fs::path dir = path.parent_path(); dir != fs::path(root_) && dir.has_relative_path();
         dir = dir.parent_path()) {
      if (::rmdir(dir.c_str()) != 0) break;
    }
  }

  std::string describe() const override { return root_; }

 private:
  // Adds the keys under `dir` that start with `prefix` (temporaries aside). A folder that
  // vanishes meanwhile held no keys: nodes sharing this folder (NFS) delete their probe
  // objects and the folders those emptied while others list.
  void walk(const fs::path& dir, const std::string& prefix, std::vector<std::string>& keys) const {
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
      std::error_code entry_ec;
      if (it->is_directory(entry_ec) && !it->is_symlink(entry_ec)) {
        walk(it->path(), prefix, keys);
        continue;
      }
      if (!it->is_regular_file(entry_ec)) continue;
      std::string key = fs::relative(it->path(), root_, entry_ec).string();
      if (entry_ec) {
        if (missing(entry_ec)) continue;
        throw StorageError("cannot list " + it->path().string() + ": " + entry_ec.message());
      }
      if (key.rfind(prefix, 0) == 0 && key.find(kTempMarker) == std::string::npos)
        keys.push_back(key);
    }
    if (ec && !missing(ec)) throw StorageError("cannot list " + dir.string() + ": " + ec.message());
  }

  std::string root_;
};

}  // namespace

std::unique_ptr<Storage> makeLocalStorage(const std::string& root) {
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  return std::make_unique<LocalStorage>(r);
}

}  // namespace trainrun
