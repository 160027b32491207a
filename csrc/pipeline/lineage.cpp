// The lineage.json document.
#include "pipeline/lineage.h"

namespace trainrun {

nlohmann::ordered_json lineageJson(const Lineage& l) {
  using Json = nlohmann::ordered_json;
  auto orNull = [](const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); };
  Json files = Json::array();
  for (const InputFile& f : l.data.files)
    files.push_back({{"role", f.role}, {"path", f.path}, {"sha256", f.sha256}, {"bytes", f.bytes}});
  Json j;
  j["run"] = l.run;
  j["trainrun"] = {{"version", trainrunVersion()}, {"git_revision", trainrunGitRevision()}};
  j["config"] = {{"path", l.config_path},
                 {"sha256", orNull(l.config_sha256)},
                 {"resolved_sha256", l.resolved_config_sha256}};
  j["data"] = {{"sha256", orNull(l.data.sha256)}, {"files", files}};
  j["model"] = {{"path", "model/model.pt"}, {"sha256", l.model_sha256}};
  j["resumed_from"] = orNull(l.resumed_from);
  j["world_size"] = l.world_size;
  j["steps"] = l.steps;
  j["software"] = {{"libtorch", TRAINRUN_TORCH_VERSION},
                   {"cuda", orNull(l.cuda)},
                   {"cudnn", orNull(l.cudnn)},
                   {"nccl", orNull(l.nccl)}};
  j["device"] = l.device;
  return j;
}

}  // namespace trainrun
