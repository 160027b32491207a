// The files of a table split: a local file or folder, or an S3 prefix fetched once into a cache.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/s3_fetch.h"

namespace trainrun {

// The local folder S3 objects are cached in: dataCacheDir() (data/s3_fetch.h).
std::string tableCacheDir();

// The local files of `path` (the value of config key `key`), in name order:
// - a file: itself;
// - a folder: every .csv, .csv.gz and .parquet file under it, recursively, skipping names
//   that start with '.' or '_' (_SUCCESS, .crc files);
// - s3://bucket/prefix: the object named so, else the table files under prefix/, each fetched
//   into <cache_dir>/s3/<bucket>/<key>/<etag>-<size>/<name> unless already there: ranged GETs
//   pinned to the listed ETag, several objects and ranges in flight at once, the content's MD5
//   (for a multipart ETag, each part's) computed as the ranges land and checked against the
//   ETag, then renamed into place, so a cached file is always whole and verified.
//   `s3_endpoint` overrides AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL.
// Throws ConfigError for a path that holds no table files, StorageError when S3 fails or a
// fetched object's checksum does not match (naming the object).
// `summary` (when given) gets one log-line fragment about an S3 fetch ("" for local paths).
std::vector<std::string> tableFiles(const std::string& path, const std::string& key,
                                    const std::string& s3_endpoint, const std::string& cache_dir,
                                    std::string* summary = nullptr);

// etagMatches (the check a fetch makes) lives in data/s3_fetch.h.

}  // namespace trainrun
