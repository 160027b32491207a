// Helpers shared by the config sources (loader, validation, YAML emitter); not a public API.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "config/config.pb.h"

namespace trainrun::config::internal {

// Where YAML nodes came from, so errors point at a file line or at the --set flag.
struct YamlOrigin {
  std::string source;         // file name (or caller's label) for file nodes
  std::string override_text;  // the whole "key=value" when the nodes came from --set
};

// Sets the fields of `message` named by the map `node`, walking the schema by reflection.
// Fields absent from `node` keep their values (so --set merges); a null value resets a field
// to its default; a list replaces a repeated field. `prefix` is the dotted key of `message`.
void mergeYaml(const YAML::Node& node, google::protobuf::Message* message,
               const std::string& prefix, const YamlOrigin& origin);

// Range, choice and cross-field checks on a fully merged config; throws ConfigError.
void validateJobConfig(const JobConfig& config);

// Shortest decimal text that parses back to exactly `value` ("0.1", "1e-08", "25").
std::string formatDouble(double value);

}  // namespace trainrun::config::internal
