// ProfileTrace: Kineto on for a window of steps, then a Chrome trace and a table of kernels.
#include "train/profile_trace.h"

#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/cuda.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "core/file.h"
#include "core/logging.h"

namespace trainrun {
namespace {

namespace prof = torch::autograd::profiler;
using torch::profiler::impl::ActivityType;
using torch::profiler::impl::ProfilerConfig;
using torch::profiler::impl::ProfilerState;

constexpr size_t kTableRows = 40;

std::set<ActivityType> activities(bool cuda) {
  std::set<ActivityType> a{ActivityType::CPU};
  if (cuda) a.insert(ActivityType::CUDA);
  return a;
}

// The table: per name, calls and total time; the kernels on a GPU, the CPU ops otherwise.
nlohmann::ordered_json kernelTable(const prof::ProfilerResult& result, bool cuda, int64_t steps) {
  struct Row {
    int64_t calls = 0;
    double ns = 0;
  };
  std::map<std::string, Row> rows;
  double total_ns = 0;
  for (const prof::KinetoEvent& e : result.events()) {
    const bool device = e.deviceType() == c10::DeviceType::CUDA;
    if (device != cuda) continue;
    Row& r = rows[e.name()];
    r.calls += 1;
    r.ns += double(e.durationNs());
    total_ns += double(e.durationNs());
  }
  std::vector<std::pair<std::string, Row>> sorted(rows.begin(), rows.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.second.ns > b.second.ns; });
  nlohmann::ordered_json table = nlohmann::ordered_json::array();
  for (size_t i = 0; i < std::min(kTableRows, sorted.size()); ++i) {
    const auto& [name, r] = sorted[i];
    table.push_back({{"name", name},
                     {"calls_per_step", double(r.calls) / double(steps)},
                     {"ms_per_step", r.ns / 1e6 / double(steps)},
                     {"share", total_ns > 0 ? r.ns / total_ns : 0.0}});
  }
  return {{"steps", steps},
          {"kind", cuda ? "cuda kernels" : "cpu operators (inclusive time)"},
          {"total_ms_per_step", total_ns / 1e6 / double(steps)},
          {"rows", table}};
}

}  // namespace

ProfileTrace::ProfileTrace(int64_t start, int64_t steps, std::string output_dir, bool cuda)
    : start_(start), steps_(steps), output_dir_(std::move(output_dir)), cuda_(cuda) {
  prof::prepareProfiler(ProfilerConfig(ProfilerState::KINETO), activities(cuda_));
}

ProfileTrace::~ProfileTrace() {
  if (recording_) prof::disableProfiler();  // a run that ended inside the window
}

void ProfileTrace::beforeStep(int64_t step) {
  if (step != start_ || recording_ || steps_ <= 0) return;
  if (cuda_) torch::cuda::synchronize();  // the window holds its own steps' kernels only
  prof::enableProfiler(ProfilerConfig(ProfilerState::KINETO), activities(cuda_));
  recording_ = true;
}

void ProfileTrace::afterStep(int64_t step) {
  if (recording_ && step + 1 == start_ + steps_) finish();
}

void ProfileTrace::finish() {
  if (cuda_) torch::cuda::synchronize();
  std::unique_ptr<prof::ProfilerResult> result = prof::disableProfiler();
  recording_ = false;
  try {
    const std::string trace = output_dir_ + "/profile_trace.json";
    result->save(trace);
    writeFileAtomic(output_dir_ + "/profile_kernels.json",
                    kernelTable(*result, cuda_, steps_).dump(2) + "\n");
    log::out("profile: steps " + std::to_string(start_ + 1) + "-" +
             std::to_string(start_ + steps_) + " traced into " + trace +
             " and profile_kernels.json");
  } catch (const std::exception& e) {
    log::warn(std::string("profile: the trace was not written: ") + e.what());
  }
}

}  // namespace trainrun
