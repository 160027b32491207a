// The scaling benchmark's rows and their table, JSON and gnuplot PNG.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bench/predictor.h"
#include "metrics/step_profile.h"

namespace trainrun::bench {

struct ScalingRow {
  std::string series = "default";  // the --sweep value, or "default"
  std::string mode;                // weak or strong
  int64_t nodes = 1;
  int64_t ranks = 1;
  int64_t global_batch = 0;
  StepPhases measured;                  // rank 0's medians
  double samples_per_sec = 0;           // global_batch / measured.step_ms
  double efficiency = 1;                // samples_per_sec / (nodes x the series' one-node rate)
  std::optional<Prediction> predicted;  // weak scaling with a link model only
};

// The fixed-width table with a units row (lines without newlines).
std::vector<std::string> formatScalingTable(const std::vector<ScalingRow>& rows);

// {"benchmark": "scaling", "config": ..., "link": ..., "rows": [...]}
std::string formatScalingJson(const std::vector<ScalingRow>& rows, const std::string& config,
                              const std::string& link);

// Throughput and efficiency against ranks, one line per series and mode, measured solid and
// predicted dashed, drawn by gnuplot (pngcairo) into `png_path`. Throws Error with gnuplot's
// message when it fails.
void plotScaling(const std::vector<ScalingRow>& rows, const std::string& title,
                 const std::string& png_path);

// gnuplot is on $PATH (checked before any run when --plot is given).
bool gnuplotAvailable();

}  // namespace trainrun::bench
