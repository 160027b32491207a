// Whole writes: files replaced atomically, and lines written to a descriptor in one piece.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace trainrun {

// Every temporary file name tempPathBeside() makes contains this, so listings can skip them.
inline constexpr const char* kTempMarker = ".tmp-";

// "<path>.tmp-<pid>-<n>": beside `path` (so the rename stays in one file system) and unique
// across processes and threads.
std::string tempPathBeside(const std::string& path);

// Replaces `path` with `size` bytes so that a reader, or a crash, sees the old file or the new
// one, never a torn one: writes a temporary file beside it, fsyncs it, renames it over `path`
// and fsyncs the folder. Throws StorageError, one line naming the path and the system's
// reason; the temporary file is removed. The folder must exist.
void writeFileAtomic(const std::string& path, const void* data, size_t size);
void writeFileAtomic(const std::string& path, const std::string& bytes);

// The second half of writeFileAtomic, for a temporary file (from tempPathBeside) that something
// else wrote, such as a library that saves to a path: fsyncs `tmp`, renames it over `path`,
// fsyncs the folder. Removes `tmp` and throws StorageError on failure.
void commitFileAtomic(const std::string& tmp, const std::string& path);

// The whole content of the file at `path`; nullopt when it cannot be opened or read.
std::optional<std::string> readWholeFile(const std::string& path);

// Writes all `size` bytes to `fd`, retrying on EINTR and short writes. False (errno set) when
// a write fails.
bool writeAll(int fd, const void* data, size_t size);

// Writes `line` plus '\n' to `fd` in as few write() calls as the fd allows (one for pipes up to
// PIPE_BUF and for terminals and files in practice), so concurrent writers never split it.
// A destination that fails drops the line: there is nowhere to report it.
void writeLine(int fd, const std::string& line);

}  // namespace trainrun
