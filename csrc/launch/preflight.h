// The launcher's checks of a job against this host and its storage, before any rank starts.
#pragma once

#include <functional>
#include <string>

#include "config/config.h"

namespace trainrun::launch {

// What a config file alone cannot tell, checked once on the launcher rather than N times in N
// ranks: `dist.backend: nccl` needs a GPU this host shows (as --nproc-per-node gpu counts them,
// <root>/dev/nvidiaN or CUDA_VISIBLE_DEVICES); S3 locations on AWS need a region (the SDKs'
// chain); `resume: <uri>` must name a committed checkpoint (its manifest exists). Token shards
// are checked as ShardListings lists them. Throws ConfigError with one line naming the fix, or
// StorageError when the storage cannot be asked.
void checkJobOnHost(const config::JobConfig& config,
                    const std::function<std::string(const std::string&)>& env,
                    const std::string& root);

}  // namespace trainrun::launch
