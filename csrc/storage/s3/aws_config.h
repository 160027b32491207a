// The AWS shared config and credentials files (INI), the named profile, and the region chain.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace trainrun::s3 {

// AWS_PROFILE, else "default".
std::string awsProfile();
// AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials; "" without HOME.
std::string awsCredentialsPath();
// AWS_CONFIG_FILE, else ~/.aws/config; "" without HOME.
std::string awsConfigPath();

// The keys of `profile` in the INI file at `path`: the credentials file names sections
// "[NAME]", the config file "[profile NAME]" (and "[default]"); either spelling is taken in
// either file. nullopt when the file cannot be read or holds no such section.
std::optional<std::map<std::string, std::string>> readProfile(const std::string& path,
                                                              const std::string& profile);

// The region as the AWS SDKs find it: AWS_REGION, AWS_DEFAULT_REGION, the profile's `region`
// in the config file, then (with `ask_instance_metadata`) EC2 instance metadata (IMDSv2
// placement/region, unless AWS_EC2_METADATA_DISABLED). "" when none says.
std::string resolveRegion(bool ask_instance_metadata = true);

}  // namespace trainrun::s3
