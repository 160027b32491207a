// model.tar.gz: a folder's files at the root of a gzip-compressed POSIX tar archive.
#pragma once

#include <string>

namespace trainrun::pipeline {

// Writes the regular files under `dir` (sorted, at any depth, named relative to `dir`, so
// model.pt sits at the archive's root as SageMaker lays out model.tar.gz) to the file `out` as
// a gzip-compressed POSIX tar archive (libarchive: ustar headers, pax ones where a size or
// name needs them), streamed: files of any size, memory bounded by a buffer. Modes 0644, owner
// 0, the files' modification times. Throws StorageError naming the file that cannot be read
// or written.
void writeTarGzFolder(const std::string& dir, const std::string& out);

}  // namespace trainrun::pipeline
