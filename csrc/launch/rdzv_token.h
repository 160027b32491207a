// The rendezvous token: where it comes from, and the key names and verifier derived from it.
#pragma once

#include <functional>
#include <string>

namespace trainrun::launch {

// A token and what the start-up line may say of it (never the token itself).
struct RdzvToken {
  std::string secret;
  std::string origin;  // "TRAINRUN_RDZV_TOKEN", "the file in TRAINRUN_RDZV_TOKEN_FILE", ...
};

// TRAINRUN_RDZV_TOKEN, else the contents of TRAINRUN_RDZV_TOKEN_FILE, else derived from the
// scheduler's job id (`job_id`, naming `scheduler`), else from the run id, which guards
// nothing: origin says so. ConfigError when the token file cannot be read or is empty.
RdzvToken rdzvToken(const std::function<std::string(const std::string&)>& env,
                    const std::string& scheduler, const std::string& job_id,
                    const std::string& run_id);

// Hex SHA-256 of `purpose`, the run id and the secret: names the run's store keys ("keys")
// and the value joiners check ("verify"). Neither reveals the token.
std::string tokenDigest(const RdzvToken& token, const std::string& purpose,
                        const std::string& run_id);

}  // namespace trainrun::launch
