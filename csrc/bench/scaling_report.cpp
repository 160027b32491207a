// Scaling results as a table with units, as JSON, and as a PNG drawn by gnuplot.
#include "bench/scaling_report.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"

namespace trainrun::bench {
namespace {

std::string cell(const char* format, double v) {
  char text[32];
  std::snprintf(text, sizeof(text), format, v);
  return text;
}

nlohmann::json phasesJson(const StepPhases& p) {
  return {{"step", p.step_ms},         {"data", p.data_ms}, {"forward", p.forward_ms},
          {"backward", p.backward_ms}, {"comm", p.comm_ms}, {"optimizer", p.optimizer_ms}};
}

// gnuplot's string quoting: single quotes, a quote doubled.
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::vector<std::string> formatScalingTable(const std::vector<ScalingRow>& rows) {
  std::vector<std::string> lines;
  char line[400];
  const char* head = "%-10s %-6s %5s %5s %6s %9s %10s %6s %9s %6s %6s %7s %7s %7s %7s %7s";
  std::snprintf(line, sizeof(line), head, "# series", "mode", "nodes", "ranks", "batch", "step",
                "throughput", "eff", "predicted", "p.eff", "error", "data", "forward", "backwd",
                "comm", "optim");
  lines.push_back(line);
  std::snprintf(line, sizeof(line), head, "#", "", "", "", "", "ms", "samples/s", "", "ms", "", "%",
                "ms", "ms", "ms", "ms", "ms");
  lines.push_back(line);
  for (const ScalingRow& r : rows) {
    const StepPhases& m = r.measured;
    std::string pred = "-", peff = "-", err = "-";
    if (r.predicted) {
      pred = cell("%.1f", r.predicted->step_ms);
      peff = cell("%.2f", r.predicted->efficiency);
      err = cell("%+.1f", (r.predicted->step_ms / m.step_ms - 1) * 100);
    }
    std::snprintf(line, sizeof(line),
                  "%-10s %-6s %5lld %5lld %6lld %9.1f %10.1f %6.2f %9s %6s %6s %7.2f %7.2f %7.2f "
                  "%7.2f %7.2f",
                  r.series.c_str(), r.mode.c_str(), static_cast<long long>(r.nodes),
                  static_cast<long long>(r.ranks), static_cast<long long>(r.global_batch),
                  m.step_ms, r.samples_per_sec, r.efficiency, pred.c_str(), peff.c_str(),
                  err.c_str(), m.data_ms, m.forward_ms, m.backward_ms, m.comm_ms, m.optimizer_ms);
    lines.push_back(line);
  }
  return lines;
}

std::string formatScalingJson(const std::vector<ScalingRow>& rows, const std::string& config,
                              const std::string& link) {
  nlohmann::json out = {{"benchmark", "scaling"}, {"config", config}, {"link", link}};
  nlohmann::json list = nlohmann::json::array();
  for (const ScalingRow& r : rows) {
    nlohmann::json row = {{"series", r.series},
                          {"mode", r.mode},
                          {"nodes", r.nodes},
                          {"ranks", r.ranks},
                          {"global_batch", r.global_batch},
                          {"measured_ms", phasesJson(r.measured)},
                          {"samples_per_sec", r.samples_per_sec},
                          {"efficiency", r.efficiency}};
    if (r.predicted)
      row["predicted"] = {{"step_ms", r.predicted->step_ms},
                          {"comm_ms", r.predicted->comm_ms},
                          {"exposed_ms", r.predicted->exposed_ms},
                          {"samples_per_sec", r.predicted->samples_per_sec},
                          {"efficiency", r.predicted->efficiency},
                          {"error", r.predicted->step_ms / r.measured.step_ms - 1}};
    list.push_back(std::move(row));
  }
  out["rows"] = std::move(list);
  return out.dump(2) + "\n";
}

bool gnuplotAvailable() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

void plotScaling(const std::vector<ScalingRow>& rows, const std::string& title,
                 const std::string& png_path) {
  // One data block per series and mode: ranks, throughput, efficiency, predicted (or NaN).
  std::map<std::string, std::vector<const ScalingRow*>> lines;
  for (const ScalingRow& r : rows) lines[r.series + " " + r.mode].push_back(&r);
  const std::string data_path = png_path + ".dat";
  std::string data;
  std::vector<std::string> names;
  std::vector<bool> predicted;  // per line: has a predicted column
  for (const auto& [name, points] : lines) {
    names.push_back(name);
    predicted.push_back(points.front()->predicted.has_value());
    data += "# " + name + "\n";
    for (const ScalingRow* r : points) {
      char line[200];
      std::snprintf(line, sizeof(line), "%lld %g %g %s %s\n", static_cast<long long>(r->ranks),
                    r->samples_per_sec, r->efficiency,
                    r->predicted ? cell("%g", r->predicted->samples_per_sec).c_str() : "NaN",
                    r->predicted ? cell("%g", r->predicted->efficiency).c_str() : "NaN");
      data += line;
    }
    data += "\n\n";
  }
  writeFileAtomic(data_path, data);
  // Both axes logarithmic: one node's rate and a bandwidth-bound node count's can be orders
  // of magnitude apart, and linear scaling is then a straight line.
  std::string script = "set terminal pngcairo size 1300,640 font 'sans,11'\n";
  script += "set output " + quoted(png_path) + "\n";
  script += "set multiplot layout 1,2 title " + quoted(title) + "\n";
  script +=
      "set grid\nset key outside below center maxcols 2 samplen 3 width 1 spacing 1.1\nset xlabel "
      "'ranks'\n";
  script += "set logscale xy 2\nset xtics 2\nset format y '%g'\n";
  auto panel = [&](const std::string& ylabel, int measured_col, int predicted_col, bool ideal) {
    std::vector<std::string> plots;
    for (size_t i = 0; i < names.size(); ++i) {
      const std::string source = quoted(data_path) + " index " + std::to_string(i) + " using 1:";
      const std::string color = " lt " + std::to_string(i + 1) + " lw 2";
      plots.push_back(source + std::to_string(measured_col) + " with linespoints" + color +
                      " pt 7 title " + quoted(names[i] + " measured"));
      if (predicted[i])
        plots.push_back(source + std::to_string(predicted_col) + " with linespoints" + color +
                        " dt 2 pt 6 title " + quoted(names[i] + " predicted"));
    }
    if (ideal) plots.push_back("1 with lines lc 'gray' dt 3 lw 2 title 'linear'");
    script += "set ylabel " + quoted(ylabel) + "\nplot ";
    for (size_t i = 0; i < plots.size(); ++i) script += (i ? ", " : "") + plots[i];
    script += "\n";
  };
  panel("throughput (samples/s)", 2, 4, false);
  script += "set yrange [*:1.5]\n";
  panel("efficiency vs linear", 3, 5, true);
  script += "unset multiplot\n";
  const std::string script_path = png_path + ".gp";
  writeFileAtomic(script_path, script);
  const std::string command = "gnuplot " + quoted(script_path) + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string output;
  char buffer[256];
  while (pipe && std::fgets(buffer, sizeof(buffer), pipe)) output += buffer;
  const int status = pipe ? ::pclose(pipe) : -1;
  if (status != 0 || !std::filesystem::exists(png_path))
    throw Error("trainrun bench: gnuplot could not draw " + png_path + ": " +
                output.substr(0, output.find('\n')));
}

}  // namespace trainrun::bench
