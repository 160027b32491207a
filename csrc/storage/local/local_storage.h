// Local-disk backend of Storage: files under a root folder, written atomically.
#pragma once

#include <memory>
#include <string>

#include "storage/storage.h"

namespace trainrun {

// put() writes "<key>.tmp-<pid>-<n>", fsyncs it, renames it over the key and fsyncs the
// folder, so a crash leaves the old object or the new one, never a torn file. Temporary
// files are invisible to list().
std::unique_ptr<Storage> makeLocalStorage(const std::string& root);

}  // namespace trainrun
