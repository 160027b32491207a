// Storage URI parsing and S3 bucket name rules (no I/O: the launcher checks configs with it).
#include "storage/storage_uri.h"

#include <cctype>

#include "core/error.h"

namespace trainrun {
namespace {

constexpr const char* kS3Scheme = "s3://";

bool startsWith(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }
bool endsWith(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "192.168.5.4": four dot-separated groups of 1-3 digits.
bool looksLikeIpAddress(const std::string& name) {
  int groups = 0, digits = 0;
  for (char c : name + ".") {
    if (c == '.') {
      if (digits == 0 || digits > 3) return false;
      ++groups;
      digits = 0;
    } else if (c >= '0' && c <= '9') {
      ++digits;
    } else {
      return false;
    }
  }
  return groups == 4;
}

}  // namespace

std::string bucketNameProblem(const std::string& b) {
  if (b.size() < 3 || b.size() > 63)
    return "has " + std::to_string(b.size()) + " characters (S3 allows 3 to 63)";
  for (char c : b) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) {
      return std::string("contains '") + c +
             "' (S3 allows lower-case letters, digits, '.' and '-')";
    }
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(b.front()) || !alnum(b.back())) return "must start and end with a letter or digit";
  if (b.find("..") != std::string::npos) return "contains \"..\"";
  if (looksLikeIpAddress(b)) return "is formatted as an IP address";
  for (const char* p : {"xn--", "sthree-", "amzn-s3-demo-"})
    if (startsWith(b, p)) return std::string("starts with the reserved prefix '") + p + "'";
  for (const char* s : {"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"})
    if (endsWith(b, s)) return std::string("ends with the reserved suffix '") + s + "'";
  return "";
}

StorageUri parseStorageUri(const std::string& uri, const std::string& key) {
  const std::string where = key + " '" + uri + "'";
  StorageUri out;
  const std::string lowered = lower(uri);
  if (!startsWith(uri, kS3Scheme)) {
    if (startsWith(lowered, "s3:")) {
      throw ConfigError(where + " is not an S3 URI; write it as s3://bucket/prefix");
    }
    const size_t scheme = uri.find("://");
    if (scheme != std::string::npos && scheme > 0 &&
        uri.find('/') == scheme + 1) {  // "gs://x", not "a/b://c"
      throw ConfigError(where + ": unsupported scheme " + uri.substr(0, scheme + 3) +
                        " (use s3://bucket/prefix or a local folder)");
    }
    if (uri.empty()) throw ConfigError(key + " is empty");
    out.path = uri;
    while (out.path.size() > 1 && out.path.back() == '/') out.path.pop_back();
    return out;
  }
  out.s3 = true;
  const std::string rest = uri.substr(std::string(kS3Scheme).size());
  const size_t slash = rest.find('/');
  out.bucket = rest.substr(0, slash);
  if (out.bucket.empty()) throw ConfigError(where + " names no bucket (s3://bucket/prefix)");
  const std::string problem = bucketNameProblem(out.bucket);
  if (!problem.empty()) throw ConfigError(where + ": bucket name '" + out.bucket + "' " + problem);
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (prefix.find("//") != std::string::npos || (!prefix.empty() && prefix.front() == '/')) {
    throw ConfigError(where + " has an empty path segment (\"//\"); write s3://" + out.bucket +
                      "/prefix");
  }
  out.prefix = prefix;
  return out;
}

}  // namespace trainrun
