// rdzvToken / tokenDigest: the token's sources in order, SHA-256 through OpenSSL's EVP.
#include "launch/rdzv_token.h"

#include <openssl/evp.h>

#include <fstream>
#include <sstream>

#include "core/env.h"
#include "core/error.h"
#include "core/strings.h"

namespace trainrun::launch {

RdzvToken rdzvToken(const std::function<std::string(const std::string&)>& env,
                    const std::string& scheduler, const std::string& job_id,
                    const std::string& run_id) {
  if (std::string t = env(env::kRdzvToken); !t.empty())
    return {t, std::string("$") + env::kRdzvToken};
  if (std::string path = env(env::kRdzvTokenFile); !path.empty()) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    const std::string t = trim(text.str());
    if (!in || t.empty())
      throw ConfigError(std::string(env::kRdzvTokenFile) + "=" + path +
                        " cannot be read or is empty; point it at a file holding the token");
    return {t, std::string("the file in $") + env::kRdzvTokenFile};
  }
  if (!job_id.empty())
    return {"job:" + job_id, "derived from " + scheduler + "'s job id (set $" +
                                 std::string(env::kRdzvToken) + " for a secret one)"};
  return {"run:" + run_id, "derived from the run id only, which guards nothing: set $" +
                               std::string(env::kRdzvToken) + " on every node"};
}

std::string tokenDigest(const RdzvToken& token, const std::string& purpose,
                        const std::string& run_id) {
  const std::string text = purpose + '\0' + run_id + '\0' + token.secret;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr) != 1)
    throw Error("SHA-256 of the rendezvous token failed (OpenSSL)");
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(kHex[md[i] >> 4]);
    hex.push_back(kHex[md[i] & 15]);
  }
  return hex;
}

}  // namespace trainrun::launch
