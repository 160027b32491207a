// Every rank runs one job: the run's name, its resolved config and its input data are rank 0's.
#pragma once

#include <string>

#include "config/config.h"
#include "data/data_digest.h"

namespace trainrun {

struct DistContext;

// What a rank runs, as text to compare with another rank's: the trainrun build ("0.9.0 (git
// 1a2b3c)"), the run's name, the resolved config as YAML without the output section (only
// rank 0 writes outputs) and with local input paths cleared (their bytes are compared
// instead: a node may keep the same files elsewhere), and each input file's role, path and
// SHA-256.
std::string describeJob(const std::string& build, const std::string& run_name,
                        const config::JobConfig& config, const DataDigest& data);

// "" when `mine` and `rank0` (describeJob's) describe the same job; else the first difference
// in one line, naming it and the fix: the build, input data, a config key, the run's name.
std::string jobDifference(const std::string& mine, const std::string& rank0);

// Rank 0 posts `description` (describeJob's) to the store; every other rank reads it (bounded
// by dist.timeout_s) and throws ConfigError with jobDifference's line when it differs: nodes
// started with other --set flags or config files, or holding other copies of the data, fail
// at start-up in one line instead of waiting out the deadline on keys named by the run.
// Alone (no store): nothing.
void checkSameJob(DistContext& dist, const std::string& description);

}  // namespace trainrun
