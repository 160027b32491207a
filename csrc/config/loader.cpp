// Job config entry points: read the YAML file, merge --set overrides, validate.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/config.h"
#include "config/internal.h"
#include "core/error.h"

namespace trainrun::config {
namespace {

YAML::Node parseYaml(const std::string& text, const std::string& what) {
  try {
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    // e.what() repeats the position in yaml-cpp's own words; e.msg is just the reason.
    throw ConfigError(what + ":" + std::to_string(e.mark.line + 1) + ":" +
                      std::to_string(e.mark.column + 1) + ": malformed YAML: " + e.msg);
  }
}

[[noreturn]] void badOverride(const std::string& text) {
  throw ConfigError("--set expects key=value, e.g. train.steps=100 (got '" + text + "')");
}

// "a.b=value" -> {a: {b: value}}, so an override goes through the same schema walk (and the
// same error messages) as the file.
YAML::Node overrideNode(const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) badOverride(text);
  std::vector<std::string> path;
  std::stringstream keys(text.substr(0, eq));
  for (std::string part; std::getline(keys, part, '.');) {
    if (part.empty() || part.find_first_of(" \t") != std::string::npos) badOverride(text);
    path.push_back(part);
  }
  if (path.empty() || text[eq - 1] == '.') badOverride(text);
  YAML::Node node;
  try {
    node = YAML::Load(text.substr(eq + 1));
  } catch (const YAML::ParserException& e) {
    throw ConfigError("--set " + text + ": malformed YAML value: " + e.msg);
  }
  for (auto it = path.rbegin(); it != path.rend(); ++it) {
    YAML::Node parent(YAML::NodeType::Map);
    parent[*it] = node;
    node.reset(parent);  // rebind; operator= would write through to the child just stored
  }
  return node;
}

}  // namespace

JobConfig parseJobConfig(const std::string& yaml_text, const std::vector<std::string>& overrides,
                         const std::string& source) {
  JobConfig config = mergeJobConfig(yaml_text, overrides, source);
  internal::validateJobConfig(config);
  return config;
}

JobConfig mergeJobConfig(const std::string& yaml_text, const std::vector<std::string>& overrides,
                         const std::string& source) {
  JobConfig config;
  internal::mergeYaml(parseYaml(yaml_text, source), &config, "", {source, ""});
  // Overrides merge into the typed config in order, so a later --set wins and an error names
  // the flag rather than a position in a YAML document the user never wrote.
  for (const std::string& text : overrides) {
    internal::mergeYaml(overrideNode(text), &config, "", {source, text});
  }
  return config;
}

JobConfig loadJobConfig(const std::string& path, const std::vector<std::string>& overrides) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw ConfigError("config file '" + path + "' not found");
  }
  if (std::filesystem::is_directory(path, ec)) {
    throw ConfigError("config file '" + path + "' is a directory, not a YAML file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) throw ConfigError("config file '" + path + "' cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  return parseJobConfig(text.str(), overrides, path);
}

}  // namespace trainrun::config
