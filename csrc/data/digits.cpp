// Reader for the gzipped digits CSV (read with zlib, no temporary files).
#include <zlib.h>

#include <sstream>
#include <vector>

#include "core/error.h"
#include "data/dataset.h"

namespace trainrun {
namespace {

constexpr int kPixels = 64;
constexpr int kClasses = 10;

std::string readGzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr)
    throw ConfigError("data file '" + path +
                      "' not found (run scripts/setup.sh to fetch it, or set data.path)");
  std::string text;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
  bool failed = n < 0;
  gzclose(f);
  if (failed) throw ConfigError("data file '" + path + "' is not a readable gzip file");
  return text;
}

}  // namespace

Dataset loadDigits(const std::string& path) {
  std::string text = readGzip(path);
  std::vector<float> pixels;
  std::vector<int64_t> labels;
  std::istringstream lines(text);
  std::string line;
  for (int line_no = 1; std::getline(lines, line); ++line_no) {
    if (line.empty()) continue;
    std::vector<double> values;
    std::istringstream cells(line);
    std::string cell;
    while (std::getline(cells, cell, ',')) {
      try {
        values.push_back(std::stod(cell));
      } catch (const std::exception&) {
        values.clear();
        break;
      }
    }
    if (values.size() != kPixels + 1 || values.back() < 0 || values.back() >= kClasses)
      throw ConfigError(path + ":" + std::to_string(line_no) + ": expected 64 pixel values " +
                        "and a label 0-9 separated by commas (is this the digits CSV?)");
    for (int i = 0; i < kPixels; ++i) pixels.push_back(static_cast<float>(values[i] / 16.0));
    labels.push_back(static_cast<int64_t>(values.back()));
  }
  if (labels.empty()) throw ConfigError("data file '" + path + "' holds no samples");
  auto n = static_cast<int64_t>(labels.size());
  Dataset d;
  d.features = torch::from_blob(pixels.data(), {n, kPixels}, torch::kFloat32).clone();
  d.labels = torch::from_blob(labels.data(), {n}, torch::kInt64).clone();
  d.num_classes = kClasses;
  return d;
}

}  // namespace trainrun
