// Log-line formatting and atomic metrics.json writing.
#include "metrics/metrics.h"

#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/file.h"

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

}  // namespace trainrun
