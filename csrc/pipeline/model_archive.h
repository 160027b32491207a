// model.tar.gz: a folder's files at the root of a gzip-compressed POSIX tar archive.
#pragma once

#include <string>

namespace trainrun::pipeline {

// The regular files under `dir` (sorted, at any depth, named relative to `dir`, so model.pt
// sits at the archive's root as SageMaker lays out model.tar.gz) as a gzip-compressed ustar
// archive, in memory. Modes 0644, owner 0, the files' modification times. Throws StorageError
// naming the file that cannot be read, or a name longer than ustar allows.
std::string tarGzFolder(const std::string& dir);

}  // namespace trainrun::pipeline
