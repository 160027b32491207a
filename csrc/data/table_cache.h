// Decoded tables shared by the ranks of a node: decoded once into a file, mapped by every rank.
#pragma once

#include <string>

#include "config/config.h"
#include "data/dataset.h"

namespace trainrun {

// Where the decoded form of the table `info` names lives: a file under the table cache
// (tableCacheDir()/decoded/) keyed by the SHA-256 of every input file's path, inode, size and
// mtime, the settings that change the decoding (data.label, data.features, data.task,
// data.eval_fraction without a validation split) and this format's version. New data or new
// settings give a new file; old ones stay (the table cache keeps what it fetched, too).
std::string decodedTablePath(const config::JobConfig& config, const TableInfo& info);

// Writes the split's tensors (train, eval, test; the standardization and the classes) and its
// TableInfo's names atomically (a temporary file, then rename) to `path`. Throws StorageError
// naming the folder when it cannot (a full disk included).
void writeDecodedTable(const std::string& path, const TrainEvalSplit& split);

// Maps `path` (copy-on-write: reads share the page cache of every rank of the node, a write
// would copy its page for this process alone) and returns the split over the mapping, with
// TableInfo's feature names, classes, statistics and task reason; the caller adds its file
// lists. Throws StorageError for a file that is not a whole decoded table (remove it: the next
// run decodes again).
TrainEvalSplit mapDecodedTable(const std::string& path);

}  // namespace trainrun
