// Every rank runs one job: a rank whose run name, config or input data differ from rank 0's
// fails at start-up in one line naming the difference.
#include "train/same_job.h"

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "distributed/init.h"
#include "store/store_keys.h"

namespace trainrun {
namespace {

using Json = nlohmann::json;

// The config's leaves in order, as (dotted key, YAML text of the value).
void flatten(const YAML::Node& node, const std::string& path,
             std::vector<std::pair<std::string, std::string>>& out) {
  if (node.IsMap()) {
    for (const auto& kv : node)
      flatten(kv.second, path.empty() ? kv.first.Scalar() : path + "." + kv.first.Scalar(), out);
    return;
  }
  YAML::Emitter text;
  text << YAML::Flow << node;
  out.emplace_back(path, text.c_str());
}

std::vector<std::pair<std::string, std::string>> leaves(const std::string& yaml) {
  std::vector<std::pair<std::string, std::string>> out;
  flatten(YAML::Load(yaml), "", out);
  return out;
}

std::string shortSha(const std::string& sha) { return sha.substr(0, 12); }

std::string dataDifference(const Json& mine, const Json& rank0) {
  const std::string fix =
      "; every node must hold the same input files: copy them again, or point every node at "
      "the same data";
  if (mine.size() != rank0.size())
    return "input data differ from rank 0's: " + std::to_string(mine.size()) + " file(s) here, " +
           std::to_string(rank0.size()) + " on rank 0" + fix;
  for (size_t i = 0; i < mine.size(); ++i) {
    const std::string a = mine[i].value("sha256", ""), b = rank0[i].value("sha256", "");
    if (a == b) continue;
    const std::string path = mine[i].value("path", ""), path0 = rank0[i].value("path", "");
    return "input data differ from rank 0's: " + path + " has SHA-256 " + shortSha(a) +
           "... here, " + (path0 == path ? "" : path0 + " ") + shortSha(b) + "... on rank 0" + fix;
  }
  return "";
}

std::string configDifference(const std::string& mine, const std::string& rank0) {
  const auto a = leaves(mine), b = leaves(rank0);
  for (size_t i = 0; i < a.size() || i < b.size(); ++i) {
    const std::string key = i < a.size() ? a[i].first : b[i].first;
    const std::string here = i < a.size() && a[i].first == key ? a[i].second : "(no such key)";
    const std::string there = i < b.size() && b[i].first == key ? b[i].second : "(no such key)";
    if (here != there)
      return "config differs from rank 0's at " + key + ": " + here + " here, " + there +
             " on rank 0; every node must run the same config file, --set flags and trainrun";
  }
  return "";
}

}  // namespace

std::string describeJob(const std::string& build, const std::string& run_name,
                        const config::JobConfig& config, const DataDigest& data) {
  config::JobConfig compared = config;
  compared.clear_output();
  auto* d = compared.mutable_data();
  auto local = [](const std::string& path) { return path.rfind("s3://", 0) != 0; };
  if (local(d->path())) d->clear_path();
  if (local(d->validation_path())) d->clear_validation_path();
  if (local(d->test_path())) d->clear_test_path();
  Json files = Json::array();
  for (const InputFile& f : data.files)
    files.push_back({{"role", f.role}, {"path", f.path}, {"sha256", f.sha256}});
  return Json{
      {"build", build}, {"run", run_name}, {"config", config::toYaml(compared)}, {"data", files}}
      .dump();
}

std::string jobDifference(const std::string& mine, const std::string& rank0) {
  const Json a = Json::parse(mine), b = Json::parse(rank0);
  if (a.at("build") != b.at("build"))
    return "trainrun " + a.at("build").get<std::string>() + " runs here, " +
           b.at("build").get<std::string>() + " on rank 0; run one build (one image) on every node";
  std::string why = dataDifference(a.at("data"), b.at("data"));
  if (why.empty()) why = configDifference(a.at("config"), b.at("config"));
  if (why.empty() && a.at("run") != b.at("run"))
    why = "the run is named " + a.at("run").get<std::string>() + " here, " +
          b.at("run").get<std::string>() +
          " on rank 0 (run.name, else $TRAINING_JOB_NAME, else the config file's name): set "
          "run.name, or give every node the same config file name and $TRAINING_JOB_NAME";
  return why;
}

void checkSameJob(DistContext& dist, const std::string& description) {
  if (!dist.store) return;
  if (dist.rank == 0) {
    dist.store->set(kSameJobKey, description);
    return;
  }
  const std::string why = jobDifference(description, dist.store->get(kSameJobKey));  // bounded
  if (!why.empty()) throw ConfigError(why);
}

}  // namespace trainrun
