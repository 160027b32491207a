// Step time split: medians of the phases and the profile.json format.
#include "metrics/step_profile.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "metrics/metrics.h"

namespace trainrun {
namespace {

double medianOf(std::vector<double> v) {
  if (v.empty()) return 0;
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  double m = v[mid];
  if (v.size() % 2 == 0) m = (m + *std::max_element(v.begin(), v.begin() + mid)) / 2;
  return m;
}

double medianField(const std::vector<StepPhases>& steps, double StepPhases::*field) {
  std::vector<double> v;
  for (const StepPhases& s : steps) v.push_back(s.*field);
  return medianOf(std::move(v));
}

}  // namespace

void StepProfile::add(const StepPhases& phases, std::vector<double> grad_ready_ms) {
  if (seen_++ < warmup_) return;
  phases_.push_back(phases);
  if (ready_.size() < grad_ready_ms.size()) ready_.resize(grad_ready_ms.size());
  for (size_t i = 0; i < grad_ready_ms.size(); ++i) ready_[i].push_back(grad_ready_ms[i]);
}

int64_t StepProfile::steps() const { return static_cast<int64_t>(phases_.size()); }

StepPhases StepProfile::medianPhases() const {
  StepPhases m;
  for (double StepPhases::*field :
       {&StepPhases::data_ms, &StepPhases::forward_ms, &StepPhases::backward_ms,
        &StepPhases::comm_ms, &StepPhases::optimizer_ms, &StepPhases::step_ms})
    m.*field = medianField(phases_, field);
  return m;
}

double StepProfile::quantile(double StepPhases::*field, double q) const {
  if (phases_.empty()) return 0;
  std::vector<double> v;
  for (const StepPhases& s : phases_) v.push_back(s.*field);
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<size_t>(std::ceil(q * double(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

std::vector<double> StepProfile::medianGradReady() const {
  std::vector<double> out;
  for (const std::vector<double>& v : ready_) out.push_back(medianOf(v));
  return out;
}

std::string phasesLogFields(const StepPhases& p) {
  return formatLogLine({{"step_ms", p.step_ms},
                        {"data_ms", p.data_ms},
                        {"forward_ms", p.forward_ms},
                        {"backward_ms", p.backward_ms},
                        {"comm_ms", p.comm_ms},
                        {"optimizer_ms", p.optimizer_ms}});
}

void writeNodeProfile(const NodeProfile& p, const std::string& path) {
  nlohmann::json j;
  const StepPhases& s = p.phases;
  j["phases_ms"] = {{"data", s.data_ms}, {"forward", s.forward_ms},     {"backward", s.backward_ms},
                    {"comm", s.comm_ms}, {"optimizer", s.optimizer_ms}, {"step", s.step_ms}};
  j["grad_bytes"] = p.grad_bytes;
  j["grad_ready_ms"] = p.grad_ready_ms;
  j["grad_dtype"] = p.grad_dtype;
  j["world_size"] = p.world_size;
  j["global_batch_size"] = p.global_batch_size;
  j["grad_accum_steps"] = p.grad_accum_steps;
  j["first_bucket_mb"] = p.first_bucket_mb;
  j["bucket_cap_mb"] = p.bucket_cap_mb;
  j["wire_bytes"] = p.wire_bytes;
  j["steps"] = p.steps;
  j["device"] = p.device;
  writeFileAtomic(path, j.dump(1) + "\n");
}

NodeProfile readNodeProfile(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw ConfigError("profile " + path +
                      " cannot be read: give a profile.json written "
                      "by a run with train.profile: true");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
    NodeProfile p;
    const nlohmann::json& s = j.at("phases_ms");
    p.phases = {s.at("data"), s.at("forward"),   s.at("backward"),
                s.at("comm"), s.at("optimizer"), s.at("step")};
    p.grad_bytes = j.at("grad_bytes").get<std::vector<int64_t>>();
    p.grad_ready_ms = j.at("grad_ready_ms").get<std::vector<double>>();
    p.grad_dtype = j.at("grad_dtype").get<std::vector<int>>();
    p.world_size = j.at("world_size");
    p.global_batch_size = j.at("global_batch_size");
    p.grad_accum_steps = j.at("grad_accum_steps");
    p.first_bucket_mb = j.at("first_bucket_mb");
    p.bucket_cap_mb = j.at("bucket_cap_mb");
    p.wire_bytes = j.at("wire_bytes");
    p.steps = j.at("steps");
    p.device = j.at("device");
    if (p.grad_ready_ms.size() != p.grad_bytes.size() || p.grad_dtype.size() != p.grad_bytes.size())
      throw ConfigError("per-parameter lists differ in length");
    return p;
  } catch (const std::exception& e) {
    throw ConfigError("profile " + path + " is not a trainrun profile.json (" +
                      std::string(e.what()) + ")");
  }
}

}  // namespace trainrun
