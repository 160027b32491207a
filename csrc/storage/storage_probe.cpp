// The write probe run before the first step, so a location that cannot work fails in seconds.
#include "storage/storage_probe.h"

#include <exception>

namespace trainrun {
namespace {

// The fix for an error that carries none: backends end a message with "(hint)" when they know.
std::string withFix(const std::string& message, bool s3) {
  if (!message.empty() && message.back() == ')') return message;
  return message + (s3 ? " (check the URI, the endpoint, the credentials and the bucket policy)"
                       : " (choose a folder this user can create and write, or fix its "
                         "permissions)");
}

}  // namespace

std::string probeStorage(Storage& storage, const std::string& key) {
  const bool s3 = storage.describe().rfind("s3://", 0) == 0;
  const std::string payload = "trainrun storage probe: " + key + "\n";
  const char* op = "list the folder of";
  try {
    const size_t slash = key.rfind('/');
    storage.list(slash == std::string::npos ? "" : key.substr(0, slash + 1));
    op = "write";
    storage.put(key, payload);
    op = "read back";
    if (storage.get(key) != payload) {
      return std::string("read back a probe object that differs from what was written to ") +
             storage.describe() + "/" + key + withFix("", s3);
    }
    op = "delete";
    storage.remove(key);
  } catch (const std::exception& e) {
    return std::string("cannot ") + op + " a probe object: " + withFix(e.what(), s3);
  }
  return "";
}

}  // namespace trainrun
