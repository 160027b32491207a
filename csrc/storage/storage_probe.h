// Proves a storage location works before training: list, write a probe, read it back, delete.
#pragma once

#include <string>

#include "storage/storage.h"

namespace trainrun {

// Lists the folder of `key`, writes a small probe object at `key`, reads it back, compares,
// and deletes it, with the storage's own credentials and region. Returns "" when every step
// works, else one line: the operation that failed, the error, and the likely fix. Bounded by
// the storage's retry policy (seconds for a refused connection, a 403 or a missing bucket).
std::string probeStorage(Storage& storage, const std::string& key);

}  // namespace trainrun
