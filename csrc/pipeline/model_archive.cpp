// writeTarGzFolder: libarchive's pax-restricted tar through its gzip filter, file by file.
#include "pipeline/model_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "core/error.h"

namespace trainrun::pipeline {
namespace fs = std::filesystem;
namespace {

constexpr size_t kChunk = 1 << 20;  // bytes read and handed to the archive at a time

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

[[noreturn]] void fail(archive* a, const std::string& what) {
  throw StorageError(what + ": " + (archive_error_string(a) ? archive_error_string(a) : "?"));
}

// Copies the file at `path` (of `size` bytes) into the archive's current entry.
void copyData(archive* a, const fs::path& path, int64_t size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw StorageError("cannot read " + path.string() +
                       " for model.tar.gz: " + std::strerror(errno));
  std::vector<char> buf(kChunk);
  int64_t left = size;
  while (left > 0) {
    const ssize_t n = ::read(fd, buf.data(), std::min<int64_t>(left, kChunk));
    if (n <= 0) {
      ::close(fd);
      throw StorageError("cannot read " + path.string() + " for model.tar.gz: " +
                         (n == 0 ? std::string("it shrank while being archived")
                                 : std::string(std::strerror(errno))));
    }
    if (archive_write_data(a, buf.data(), static_cast<size_t>(n)) != n) {
      ::close(fd);
      fail(a, "cannot write model.tar.gz");
    }
    left -= n;
  }
  ::close(fd);
}

}  // namespace

void writeTarGzFolder(const std::string& dir, const std::string& out) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec))
    if (it->is_regular_file(ec)) files.push_back(it->path());
  if (ec) throw StorageError("cannot list " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());

  std::unique_ptr<archive, ArchiveDeleter> a(archive_write_new());
  // pax-restricted: plain ustar headers, and a pax header only for what ustar cannot hold (a
  // size from 8 GiB, a long name), which every tar reader since POSIX.1-2001 understands.
  if (archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK ||
      archive_write_add_filter_gzip(a.get()) != ARCHIVE_OK ||
      // Weights compress little; level 1 keeps a large model's archive quick.
      archive_write_set_filter_option(a.get(), "gzip", "compression-level", "1") != ARCHIVE_OK ||
      // The archive ends at tar's end marker, not padded to a 10 KiB record.
      archive_write_set_bytes_in_last_block(a.get(), 1) != ARCHIVE_OK ||
      archive_write_open_filename(a.get(), out.c_str()) != ARCHIVE_OK)
    fail(a.get(), "cannot write " + out);
  std::unique_ptr<archive_entry, EntryDeleter> entry(archive_entry_new());
  for (const fs::path& f : files) {
    struct stat st {};
    if (::stat(f.c_str(), &st) != 0)
      throw StorageError("cannot read " + f.string() +
                         " for model.tar.gz: " + std::strerror(errno));
    archive_entry_clear(entry.get());
    archive_entry_set_pathname(entry.get(), fs::relative(f, dir).generic_string().c_str());
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), 0644);
    archive_entry_set_size(entry.get(), st.st_size);  // la_int64_t: any length
    archive_entry_set_mtime(entry.get(), st.st_mtime, 0);
    archive_entry_set_uid(entry.get(), 0);
    archive_entry_set_gid(entry.get(), 0);
    archive_entry_set_uname(entry.get(), "root");
    archive_entry_set_gname(entry.get(), "root");
    if (archive_write_header(a.get(), entry.get()) != ARCHIVE_OK)
      fail(a.get(), "cannot add " + f.string() + " to model.tar.gz");
    copyData(a.get(), f, st.st_size);
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) fail(a.get(), "cannot finish " + out);
}

}  // namespace trainrun::pipeline
