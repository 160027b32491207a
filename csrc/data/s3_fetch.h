// S3 objects fetched whole into a node-local cache (tables; token shards share its folder and
// layout).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "storage/s3/s3_storage.h"

namespace trainrun {

// Objects are read in ranges of about this size (aligned to the parts of a multipart ETag):
// large enough that each GET is mostly transfer, small enough that even one object is read in
// parallel. Open the S3Objects with S3Options::part_size = this, so each range is one GET.
inline constexpr uint64_t kS3FetchRange = 32ull << 20;

// The local folder S3 objects are cached in: $TRAINRUN_CACHE_DIR, else
// $XDG_CACHE_HOME/trainrun, else ~/.cache/trainrun, else <temp dir>/trainrun-cache.
std::string dataCacheDir();

// Where `object` of `bucket` is cached: <cache_dir>/s3/<bucket>/<key>/<etag>-<size>/<name>, so
// a replaced object lands beside the old copy, never over it.
std::string s3CachePath(const std::string& cache_dir, const std::string& bucket,
                        const S3Object& object);

// Fetches `to_fetch` into their `dsts` (absent): every range of every object is one ranged
// GET pinned to the listed ETag (If-Match; the client's one retry policy for transient faults),
// `parallelism` in flight across the objects, each hashed as it lands; an object is renamed
// into place once whole and verified, so a half-written file never has the final name. Throws
// StorageError when the content does not match its ETag or the cache disk is full (naming the
// folder), NotFoundError / StorageError from the reads (a 404, a 412 for a replaced object).
void fetchS3Objects(S3Objects& objects, const std::vector<const S3Object*>& to_fetch,
                    const std::vector<std::string>& dsts, int parallelism);

// True when `data` has S3's ETag `etag` (quotes optional): the MD5 of the content for a
// single-part upload; for a multipart one ("<md5>-<parts>"), the MD5 of the MD5s of its parts
// of `part_size` bytes (0: unknown, so no match). The check a fetch makes (there range by range,
// as the ranges land), on a whole buffer.
bool etagMatches(const unsigned char* data, uint64_t size, const std::string& etag,
                 uint64_t part_size);

}  // namespace trainrun
