// Temporary folders: $TMPDIR's fallback and one mkdtemp for every private folder.
#include "core/temp_dir.h"

#include <stdlib.h>

#include <vector>

#include "core/env.h"

namespace trainrun {

std::string tempBase() {
  const std::string tmp = env::get(env::kTmpDir);
  return tmp.empty() ? "/tmp" : tmp;
}

std::string makeTempDir(const std::string& prefix, const std::string& base) {
  const std::string pattern = (base.empty() ? tempBase() : base) + "/" + prefix + "XXXXXX";
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  return ::mkdtemp(name.data()) == nullptr ? std::string() : std::string(name.data());
}

}  // namespace trainrun
