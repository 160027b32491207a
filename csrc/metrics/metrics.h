// Metric outputs: the key=value log line and the metrics.json a pipeline's next step reads.
#pragma once

#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace trainrun {

using MetricValue = std::variant<int64_t, double, std::string>;
using Metrics = std::vector<std::pair<std::string, MetricValue>>;

// "step=10 epoch=0 loss=0.4321 ..." in the given order; easy to match with a regex.
std::string formatLogLine(const Metrics& metrics);

// Writes metrics as one flat JSON object to `path` atomically (temporary file, rename).
void writeMetricsJson(const Metrics& metrics, const std::string& path);

}  // namespace trainrun
