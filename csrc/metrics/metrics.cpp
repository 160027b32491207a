// Log-line formatting, atomic metrics.json writing and the metrics.jsonl history.
#include "metrics/metrics.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/file.h"

namespace trainrun {

std::string plainDecimal(double v, int significant) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0) return "0";
  const int magnitude = int(std::floor(std::log10(std::fabs(v))));
  // Digits after the point that keep `significant` digits, at most 40: a value under 1e-40
  // (no loss or learning rate is) prints as 0.
  const int decimals = std::clamp(significant - 1 - magnitude, 0, 40);
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.') s.pop_back();
  }
  return s == "-0" ? "0" : s;
}

std::string formatLogLine(const Metrics& metrics) {
  std::ostringstream s;
  for (const auto& [key, value] : metrics) {
    if (s.tellp() > 0) s << ' ';
    s << key << '=';
    if (auto* i = std::get_if<int64_t>(&value)) s << *i;
    if (auto* d = std::get_if<double>(&value)) s << plainDecimal(*d);
    if (auto* str = std::get_if<std::string>(&value)) s << *str;
  }
  return s.str();
}

namespace {

nlohmann::ordered_json toJson(const Metrics& metrics) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [key, value] : metrics) {
    const double* d = std::get_if<double>(&value);
    if (d && !std::isfinite(*d))
      j[key] = nullptr;  // JSON has no NaN or infinity
    else
      std::visit([&](const auto& v) { j[key] = v; }, value);
  }
  return j;
}

}  // namespace

void writeMetricsJson(const Metrics& metrics, const std::string& path) {
  writeFileAtomic(path, toJson(metrics).dump(2) + "\n");
}

MetricsHistory::MetricsHistory(std::string path, int64_t resumed_step)
    : path_(std::move(path)), file_(nullptr, &std::fclose) {
  std::string kept;
  if (auto old = readWholeFile(path_); old && resumed_step > 0) {
    std::istringstream in(*old);
    for (std::string line; std::getline(in, line);) {
      const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.contains("step") && j["step"].is_number_integer() &&
          j["step"].get<int64_t>() <= resumed_step)
        kept += line + "\n";
    }
  }
  writeFileAtomic(path_, kept);
  file_.reset(std::fopen(path_.c_str(), "a"));
  if (!file_) throw StorageError("cannot append to " + path_ + ": " + std::strerror(errno));
}

void MetricsHistory::append(const Metrics& entry) {
  const std::string line = toJson(entry).dump() + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_.get()) != line.size() ||
      std::fflush(file_.get()) != 0)
    throw StorageError("cannot append to " + path_ + ": " + std::strerror(errno));
}

}  // namespace trainrun
