// Input data digests: lineage.json, the run's fingerprint and its default name read them.
#include "data/data_digest.h"

#include "core/digest.h"

namespace trainrun {

DataDigest digestInputData(const std::vector<std::pair<std::string, std::string>>& files) {
  DataDigest out;
  std::string all;
  for (const auto& [role, path] : files) {
    const FileDigest d = sha256OfFile(path);
    out.files.push_back({role, path, d.sha256, d.bytes});
    all += role + ' ' + d.sha256 + '\n';
  }
  if (!files.empty()) out.sha256 = sha256Hex(all);
  return out;
}

}  // namespace trainrun
