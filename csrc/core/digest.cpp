// SHA-256 through OpenSSL's EVP interface, over strings and streamed files.
#include "core/digest.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"

namespace trainrun {
namespace {

std::string hex(const unsigned char* md, unsigned int len) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

using DigestContext = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

}  // namespace

std::string sha256Hex(const std::string& bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr) != 1)
    throw Error("SHA-256 failed (OpenSSL)");
  return hex(md, len);
}

FileDigest sha256OfFile(const std::string& path) {
  std::unique_ptr<FILE, decltype(&std::fclose)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f)
    throw ConfigError("cannot read data file " + path + ": " + std::strerror(errno) +
                      " (check the path in the config)");
  DigestContext ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    throw Error("SHA-256 failed (OpenSSL)");
  FileDigest out;
  std::vector<char> block(1 << 20);
  size_t n = 0;
  while ((n = std::fread(block.data(), 1, block.size(), f.get())) > 0) {
    if (EVP_DigestUpdate(ctx.get(), block.data(), n) != 1) throw Error("SHA-256 failed (OpenSSL)");
    out.bytes += n;
  }
  if (std::ferror(f.get()))
    throw ConfigError("cannot read data file " + path + ": read error after " +
                      std::to_string(out.bytes) + " bytes");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), md, &len) != 1) throw Error("SHA-256 failed (OpenSSL)");
  out.sha256 = hex(md, len);
  return out;
}

}  // namespace trainrun
