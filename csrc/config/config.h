// Loading the job config: YAML file + --set overrides -> validated JobConfig proto.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "config/config.pb.h"

namespace trainrun::config {

// Reads the YAML file at `path`, applies `overrides` ("a.b=value", YAML scalar or flow
// syntax such as "[64,32]"), and validates against config.proto. Throws ConfigError with one
// line naming the key and what was expected (or the file and line for malformed YAML).
JobConfig loadJobConfig(const std::string& path, const std::vector<std::string>& overrides = {});

// Same, from YAML text; `source` names the text in error messages.
JobConfig parseJobConfig(const std::string& yaml_text, const std::vector<std::string>& overrides,
                         const std::string& source);

// The keys of the YAML text and `overrides` merged by the schema (unknown keys and wrong types
// are errors) but not validated: for a caller that adds defaults of its own for the keys left
// unset (the SageMaker contract) before loading the whole config.
JobConfig mergeJobConfig(const std::string& yaml_text, const std::vector<std::string>& overrides,
                         const std::string& source);

// The resolved config as YAML: every field, defaults included, in schema order.
std::string toYaml(const JobConfig& config);

// run.name, else $TRAINING_JOB_NAME, else the stem of `config_path` ("configs/a.yaml" -> "a"),
// followed by "-" and the first 8 hex digits of `data_sha256` when given (the input data's
// digest): the same command on other data is another run, never a resume of the old one.
std::string runName(const JobConfig& config, const std::string& config_path,
                    const std::string& data_sha256 = "");

// dist.timeout_s as the process group's one deadline: every collective, store wait and
// cross-rank wait of a run is bounded by it.
std::chrono::milliseconds groupTimeout(const JobConfig& config);

// Hidden layer widths with the default applied.
std::vector<int64_t> mlpHidden(const JobConfig& config);

// True for the model.name values that build the built-in GPT: gpt, gpt-tiny, gpt2-124m.
bool isGptModel(const std::string& model_name);

// A GPT's context length, which is also the length of every token window: model.block_size,
// else the preset's (gpt-tiny: 64, gpt2-124m: 1024). Throws ConfigError when model.name=gpt
// leaves it unset.
int64_t blockSize(const JobConfig& config);

// The token ids a GPT embeds: model.vocab_size, else the preset's (gpt2-124m: 50257), else 0
// (the data's vocabulary decides).
int64_t vocabSize(const JobConfig& config);

// The data file the job reads: data.path, else $TRAINRUN_DATA_DIR/<file>, else data/<file>
// (digits: digits.csv.gz). Empty for data that needs no file (synthetic).
std::string dataPath(const JobConfig& config);

// checkpoint.uri's value that picks the platform's checkpoint folder, else checkpoints/.
inline constexpr const char* kCheckpointUriAuto = "auto";

// Every input data file the job reads, as {role, path}: {"data", dataPath()} when there is
// one. Their content digest goes into lineage.json and the resume fingerprint.
std::vector<std::pair<std::string, std::string>> dataFiles(const JobConfig& config);

// Where checkpoints go: checkpoint.uri when it names a location; else
// $TRAINRUN_FS_ROOT/opt/ml/checkpoints when that folder exists (SageMaker); else "checkpoints"
// for checkpoint.uri=auto and "" (no checkpoints) when it is unset.
std::string checkpointUri(const JobConfig& config);

// The model folder: output.model_dir, else <output_dir>/model.
std::string modelDir(const JobConfig& config, const std::string& output_dir);

}  // namespace trainrun::config
