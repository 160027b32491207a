// lineage.json: what a model registry and a pipeline's caching key need to know of a run.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pipeline/build_info.h"

namespace trainrun {

struct InputFile {
  std::string role;    // "train" (data.path); other splits' files add their own roles
  std::string path;    // as the config names it
  std::string sha256;  // of the file's bytes
  uint64_t bytes = 0;
};

// The content of a job's input data: each file's SHA-256, and one digest over them all.
struct DataDigest {
  std::vector<InputFile> files;
  // SHA-256 over the files' roles and digests (not their paths: the same bytes in another
  // folder, or a channel, are the same data); empty when the data has no file (synthetic).
  std::string sha256;
};

// Hashes every file in `files` ({role, path}); throws ConfigError naming a file it cannot read.
DataDigest digestInputData(const std::vector<std::pair<std::string, std::string>>& files);

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
