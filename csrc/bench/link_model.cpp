// Link models: parsing "RATE[,LATENCY]", fitting alpha and beta to all-reduce timings.
#include "bench/link_model.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/error.h"

namespace trainrun::bench {
namespace {

// "100gbit" -> bits per second; "5us" -> seconds. Returns NaN when `text` has no such form.
double withUnit(const std::string& text, const std::vector<std::pair<std::string, double>>& units) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    return NAN;
  }
  std::string unit = text.substr(used);
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& [name, scale] : units)
    if (unit == name && value >= 0) return value * scale;
  return NAN;
}

}  // namespace

LinkModel parseLink(const std::string& text, const std::string& flag) {
  const std::string form = flag + " " + text +
                           ": give RATE[,LATENCY] such as 100Gbit,5us (rate in bit, kbit, mbit "
                           "or gbit; latency in ns, us, ms or s), or an allreduce --json file";
  const size_t comma = text.find(',');
  const double bits =
      withUnit(text.substr(0, comma),
               {{"bit", 1}, {"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9}, {"tbit", 1e12}});
  double latency = 0;
  if (comma != std::string::npos)
    latency =
        withUnit(text.substr(comma + 1), {{"ns", 1e-9}, {"us", 1e-6}, {"ms", 1e-3}, {"s", 1}});
  if (std::isnan(bits) || bits <= 0 || std::isnan(latency)) throw ConfigError(form);
  LinkModel link;
  link.bytes_per_s = bits / 8;
  link.latency_s = latency;
  link.source = "given (" + text + ")";
  return link;
}

LinkModel fitLink(const std::string& json_path, const std::string& backend) {
  std::ifstream in(json_path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception&) {
    throw ConfigError("link file " + json_path +
                      " is not JSON: give the file `trainrun bench allreduce --json` wrote");
  }
  const int64_t nodes = j.value("nodes", int64_t{0});
  if (j.value("benchmark", "") != "allreduce" || nodes < 2 || !j.contains("rows"))
    throw ConfigError("link file " + json_path +
                      " is not a multi-node allreduce benchmark: run `trainrun bench allreduce "
                      "--nnodes 2 ... --json FILE` across two nodes and give that file");
  // Weighted least squares of t = a + b*s with weights 1/t^2 (relative errors).
  double sw = 0, sws = 0, swt = 0, swss = 0, swst = 0;
  int rows = 0;
  for (const nlohmann::json& r : j["rows"]) {
    if (r.value("backend", "") != backend || r.value("type", "") != "float") continue;
    const double s = r.value("size_bytes", 0.0);
    const double t = r["in_place"].value("time_us", 0.0) * 1e-6;
    if (s < 64 * 1024 || t <= 0) continue;
    const double w = 1 / (t * t);
    sw += w, sws += w * s, swt += w * t, swss += w * s * s, swst += w * s * t;
    ++rows;
  }
  const double det = sw * swss - sws * sws;
  if (rows < 3 || det <= 0)
    throw ConfigError("link file " + json_path + " has " + std::to_string(rows) + " " + backend +
                      " float rows from 64 KiB up: run the allreduce benchmark with -e 8M or "
                      "more (and --backend " +
                      backend + ")");
  const double a = (swss * swt - sws * swst) / det;  // seconds
  const double b = (sw * swst - sws * swt) / det;    // seconds per byte
  if (b <= 0)
    throw ConfigError("link file " + json_path +
                      ": time does not grow with size; measure larger sizes (-e 32M)");
  const double n = static_cast<double>(nodes);
  LinkModel link;
  link.latency_s = std::max(0.0, a / (2 * (n - 1)));
  link.bytes_per_s = 2 * (n - 1) / n / b;
  link.source = "fitted to " + std::filesystem::path(json_path).filename().string() + " (" +
                backend + ", " + std::to_string(nodes) + " nodes, " + std::to_string(rows) +
                " sizes)";
  return link;
}

LinkModel linkFromFlag(const std::string& value) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(value, ec)) return fitLink(value);
  return parseLink(value);
}

double ringAllreduceSeconds(const LinkModel& link, int64_t nodes, int64_t bytes) {
  if (nodes < 2 || bytes <= 0) return 0;
  const double n = static_cast<double>(nodes);
  return 2 * (n - 1) * link.latency_s + 2 * (n - 1) / n * double(bytes) / link.bytes_per_s;
}

std::string describeLink(const LinkModel& link) {
  char text[96];
  const double bits = link.bytes_per_s * 8;
  if (bits >= 1e9) {
    std::snprintf(text, sizeof(text), "%.3g Gbit/s, %.3g us", bits / 1e9, link.latency_s * 1e6);
  } else {
    std::snprintf(text, sizeof(text), "%.3g Mbit/s, %.3g us", bits / 1e6, link.latency_s * 1e6);
  }
  return text;
}

}  // namespace trainrun::bench
