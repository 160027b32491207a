// tarGzFolder: ustar headers and 512-byte blocks, then one gzip stream (zlib, windowBits 31).
#include "pipeline/model_archive.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/error.h"
#include "core/file.h"

namespace trainrun::pipeline {
namespace fs = std::filesystem;
namespace {

constexpr size_t kBlock = 512;

// Writes `value` as zero-padded octal digits filling `width - 1` bytes, then a NUL.
void octal(char* field, size_t width, uint64_t value) {
  std::string digits(width - 1, '0');
  for (size_t i = width - 1; i-- > 0 && value > 0; value >>= 3) digits[i] = char('0' + (value & 7));
  if (value != 0) throw StorageError("a value does not fit a tar header field");
  std::memcpy(field, digits.data(), width - 1);
  field[width - 1] = '\0';
}

// One ustar header (POSIX.1-1988 layout: name 100, mode 8, uid 8, gid 8, size 12, mtime 12,
// checksum 8, type 1, link 100, "ustar\0" "00", uname 32, gname 32, dev 8+8, prefix 155).
void appendHeader(std::string& out, const std::string& name, uint64_t size, int64_t mtime) {
  char h[kBlock] = {};
  std::string prefix, base = name;
  if (base.size() > 100) {  // split at a '/' into prefix (155) and name (100)
    const size_t cut = name.rfind('/', 155);
    if (cut == std::string::npos || name.size() - cut - 1 > 100 || cut == 0)
      throw StorageError("file name '" + name + "' is too long for a tar archive");
    prefix = name.substr(0, cut);
    base = name.substr(cut + 1);
  }
  std::memcpy(h, base.data(), base.size());
  octal(h + 100, 8, 0644);
  octal(h + 108, 8, 0);
  octal(h + 116, 8, 0);
  octal(h + 124, 12, size);
  octal(h + 136, 12, static_cast<uint64_t>(std::max<int64_t>(mtime, 0)));
  h[156] = '0';  // regular file
  std::memcpy(h + 257, "ustar", 6);
  std::memcpy(h + 263, "00", 2);
  std::memcpy(h + 265, "root", 4);
  std::memcpy(h + 297, "root", 4);
  std::memcpy(h + 345, prefix.data(), prefix.size());
  std::memset(h + 148, ' ', 8);  // the checksum counts its own field as spaces
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  octal(h + 148, 7, sum);  // six digits, NUL, then the space left from above
  out.append(h, kBlock);
}

std::string gzip(const std::string& raw) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw StorageError("cannot initialise zlib");
  std::string out(deflateBound(&z, raw.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw StorageError("gzip compression failed");
  out.resize(z.total_out);
  return out;
}

}  // namespace

std::string tarGzFolder(const std::string& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec))
    if (it->is_regular_file(ec)) files.push_back(it->path());
  if (ec) throw StorageError("cannot list " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  std::string tar;
  for (const fs::path& f : files) {
    std::optional<std::string> bytes = readWholeFile(f.string());
    if (!bytes) throw StorageError("cannot read " + f.string() + " for model.tar.gz");
    struct stat st {};
    const int64_t mtime = ::stat(f.c_str(), &st) == 0 ? int64_t{st.st_mtime} : 0;
    appendHeader(tar, fs::relative(f, dir).generic_string(), bytes->size(), mtime);
    tar += *bytes;
    tar.append((kBlock - bytes->size() % kBlock) % kBlock, '\0');
  }
  tar.append(2 * kBlock, '\0');  // the end-of-archive marker
  return gzip(tar);
}

}  // namespace trainrun::pipeline
