// Reading ~/.aws/config and ~/.aws/credentials the way the AWS CLI does, and the region chain.
#include "storage/s3/aws_config.h"

#include <fstream>

#include "storage/s3/metadata_http.h"
#include "core/env.h"
#include "core/strings.h"

namespace trainrun::s3 {
namespace {

std::string inHome(const char* override_var, const std::string& name) {
  std::string path = env::get(override_var);
  if (!path.empty()) return path;
  const std::string home = env::get(env::kHome);
  return home.empty() ? "" : home + "/.aws/" + name;
}

// The region an EC2 instance is in, from IMDSv2; "" off EC2 (within the metadata timeouts).
std::string regionFromInstanceMetadata() {
  if (imdsDisabled()) return "";
  const std::string base = imdsEndpoint();
  const std::optional<std::string> token = imdsToken(base, MetadataTimeouts{}, /*attempts=*/1);
  if (!token) return "";
  const MetadataResponse r = metadataRequest("GET", base + "/latest/meta-data/placement/region",
                                             {imdsTokenHeader(*token)});
  return r.ok() ? trim(r.body) : "";
}

}  // namespace

std::string awsProfile() {
  const std::string p = env::get(env::kAwsProfile);
  return p.empty() ? "default" : p;
}

std::string awsCredentialsPath() { return inHome(env::kAwsSharedCredentialsFile, "credentials"); }

std::string awsConfigPath() { return inHome(env::kAwsConfigFile, "config"); }

std::optional<std::map<std::string, std::string>> readProfile(const std::string& path,
                                                              const std::string& profile) {
  if (path.empty()) return std::nullopt;
  std::ifstream in(path);
  if (!in) return std::nullopt;
  // INI: "[section]" headers and "key = value" lines; '#' and ';' start comment lines.
  std::optional<std::map<std::string, std::string>> keys;
  bool in_section = false;
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      std::string name = trim(line.substr(1, line.size() - 2));
      // The config file spells "[profile NAME]" ("[default]" for the default), the
      // credentials file "[NAME]".
      if (name.rfind("profile ", 0) == 0) name = trim(name.substr(8));
      in_section = name == profile;
      if (in_section && !keys) keys.emplace();
      continue;
    }
    const size_t eq = line.find('=');
    if (!in_section || eq == std::string::npos) continue;
    (*keys)[trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
  }
  return keys;
}

std::string resolveRegion(bool ask_instance_metadata) {
  std::string region = env::get(env::kAwsRegion);
  if (region.empty()) region = env::get(env::kAwsDefaultRegion);
  if (region.empty()) {
    const auto keys = readProfile(awsConfigPath(), awsProfile());
    if (keys && keys->count("region")) region = keys->at("region");
  }
  if (region.empty() && ask_instance_metadata) region = regionFromInstanceMetadata();
  return region;
}

}  // namespace trainrun::s3
