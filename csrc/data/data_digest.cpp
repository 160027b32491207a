// Input data digests: lineage.json, the run's fingerprint and its default name read them.
#include "data/data_digest.h"

#include <utility>

#include "core/digest.h"

namespace trainrun {

DataDigest digestInputData(const std::vector<std::pair<std::string, std::string>>& files) {
  std::vector<InputFile> hashed;
  for (const auto& [role, path] : files) {
    const FileDigest d = sha256OfFile(path);
    hashed.push_back({role, path, d.sha256, d.bytes});
  }
  return digestOf(std::move(hashed));
}

DataDigest digestOf(std::vector<InputFile> files) {
  DataDigest out;
  std::string all;
  for (const InputFile& f : files) all += f.role + ' ' + f.sha256 + '\n';
  if (!files.empty()) out.sha256 = sha256Hex(all);
  out.files = std::move(files);
  return out;
}

}  // namespace trainrun
