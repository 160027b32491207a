// SHA-256 digests (OpenSSL EVP) of bytes and of files, as lowercase hex.
#pragma once

#include <cstdint>
#include <string>

namespace trainrun {

// SHA-256 of `bytes`, 64 lowercase hex digits.
std::string sha256Hex(const std::string& bytes);

struct FileDigest {
  std::string sha256;  // 64 lowercase hex digits
  uint64_t bytes = 0;  // the file's size as read
};

// SHA-256 of the file at `path`, read in 1 MiB blocks (constant memory at any size). Throws
// ConfigError naming the path when it cannot be opened or read (an input the user named).
FileDigest sha256OfFile(const std::string& path);

}  // namespace trainrun
