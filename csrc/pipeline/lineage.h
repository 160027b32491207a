// lineage.json: what a model registry and a pipeline's caching key need to know of a run.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/data_digest.h"
#include "pipeline/build_info.h"

namespace trainrun {

struct Lineage {
  std::string run;
  std::string config_path;             // the config file given on the command line
  std::string config_sha256;           // of that file's bytes
  std::string resolved_config_sha256;  // of model/config.yaml (overrides and defaults applied)
  DataDigest data;
  std::string resumed_from;  // the checkpoint the run started from; empty: none
  int64_t world_size = 0;
  std::string device, cuda, cudnn, nccl;  // as the device report names them; empty: none
  std::string model_sha256;               // of model/model.pt
  int64_t steps = 0;
};

// The lineage.json document.
nlohmann::ordered_json lineageJson(const Lineage& lineage);

}  // namespace trainrun
