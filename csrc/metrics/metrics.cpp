// Log-line formatting and atomic metrics.json writing.
#include "metrics/metrics.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"

namespace trainrun {

std::string formatLogLine(const Metrics& metrics) {
  std::ostringstream s;
  for (const auto& [key, value] : metrics) {
    if (s.tellp() > 0) s << ' ';
    s << key << '=';
    if (auto* i = std::get_if<int64_t>(&value)) s << *i;
    if (auto* d = std::get_if<double>(&value)) s << std::setprecision(6) << *d;
    if (auto* str = std::get_if<std::string>(&value)) s << *str;
  }
  return s.str();
}

void writeMetricsJson(const Metrics& metrics, const std::string& path) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [key, value] : metrics) std::visit([&](const auto& v) { j[key] = v; }, value);
  writeFileAtomic(path, j.dump(2) + "\n");
}

void writeFileAtomic(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw StorageError("cannot create " + tmp + ": check that the folder is writable");
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::fsync(fd) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw StorageError("cannot write " + path + " (disk full or folder not writable?)");
  }
}

}  // namespace trainrun
