// checkJobOnHost: what the launcher checks once on its host, before any rank starts.
#include "launch/preflight.h"

#include "core/env.h"
#include "core/error.h"
#include "launch/cli.h"
#include "storage/s3/aws_config.h"
#include "storage/storage.h"

namespace trainrun::launch {
namespace {

// The object a committed checkpoint folder holds last (checkpoint/layout.h's kManifestName;
// the launcher links storage alone, not the checkpoint library).
constexpr const char* kManifest = "manifest.pb";

void checkResume(const config::JobConfig& config) {
  std::string uri = config.resume();
  if (uri == "auto" || uri == "never") return;
  while (uri.size() > 1 && uri.back() == '/') uri.pop_back();
  // "<root>/<run>/step-00000100": the storage root, and the folder's key under it.
  const size_t last = uri.rfind('/');
  const size_t run =
      last == std::string::npos || last == 0 ? std::string::npos : uri.rfind('/', last - 1);
  if (run == std::string::npos || uri.compare(0, run + 1, "s3://") == 0)
    throw ConfigError("resume: '" + uri + "' is not a checkpoint folder (expected " +
                      "<uri>/<run>/step-<8 digits>)");
  const std::string root = uri.substr(0, run), dir = uri.substr(run + 1);
  std::unique_ptr<Storage> storage = openStorage(root, config.checkpoint().s3_endpoint());
  if (!storage->size(dir + "/" + kManifest))
    throw ConfigError("resume: no committed checkpoint at " + uri + " (no " + kManifest +
                      " there); name a step folder that exists, e.g. " + root + "/" +
                      dir.substr(0, dir.find('/')) + "/step-00000100, or set resume: auto");
}

// The region is needed before any request to AWS S3; an S3-compatible endpoint needs none.
void checkRegion(const config::JobConfig& config,
                 const std::function<std::string(const std::string&)>& lookup) {
  const bool s3 = config.checkpoint().uri().rfind("s3://", 0) == 0 ||
                  config.output().uri().rfind("s3://", 0) == 0 ||
                  config.resume().rfind("s3://", 0) == 0 ||
                  (config.data().name() == "tokens" &&
                   (config.data().path().rfind("s3://", 0) == 0 ||
                    config.data().validation_path().rfind("s3://", 0) == 0));
  const bool endpoint = !config.checkpoint().s3_endpoint().empty() ||
                        !lookup(env::kAwsEndpointUrlS3).empty() ||
                        !lookup(env::kAwsEndpointUrl).empty();
  if (!s3 || endpoint || !s3::resolveRegion().empty()) return;
  throw ConfigError(
      "no AWS region for the job's S3 locations: set AWS_REGION to the bucket's "
      "region, or region in the profile of " +
      (s3::awsConfigPath().empty() ? std::string("~/.aws/config") : s3::awsConfigPath()) +
      " (AWS_PROFILE=" + s3::awsProfile() + ")");
}

}  // namespace

void checkJobOnHost(const config::JobConfig& config,
                    const std::function<std::string(const std::string&)>& env,
                    const std::string& root) {
  if (config.dist().backend() == "nccl" && visibleGpuCount(env, root) == 0)
    throw ConfigError(
        "dist.backend: nccl needs CUDA GPUs, and this host shows none (no /dev/nvidiaN, or "
        "CUDA_VISIBLE_DEVICES is empty); use dist.backend: auto (Gloo or shared memory on CPU) "
        "or run on a GPU host");
  checkRegion(config, env);
  checkResume(config);
}

}  // namespace trainrun::launch
