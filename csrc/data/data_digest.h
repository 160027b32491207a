// The content of a job's input files: each file's SHA-256, and one digest over them all.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace trainrun {

struct InputFile {
  std::string role;    // "train" (data.path); other splits' files add their own roles
  std::string path;    // as the config names it
  std::string sha256;  // of the file's bytes
  uint64_t bytes = 0;
};

struct DataDigest {
  std::vector<InputFile> files;
  // SHA-256 over the files' roles and digests (not their paths: the same bytes in another
  // folder, or a channel, are the same data); empty when the data has no file (synthetic).
  std::string sha256;
};

// Hashes every file in `files` ({role, path}); throws ConfigError naming a file it cannot read.
DataDigest digestInputData(const std::vector<std::pair<std::string, std::string>>& files);

// The digest of inputs whose sha256 is already known (a token corpus's manifest digest).
DataDigest digestOf(std::vector<InputFile> files);

}  // namespace trainrun
