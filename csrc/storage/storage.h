// Storage: objects by key under one root (a local folder or s3://bucket/prefix).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace trainrun {

// The object does not exist (as opposed to storage that cannot be reached).
class NotFoundError : public StorageError {
 public:
  using StorageError::StorageError;
};

// Contract: keys are '/'-separated paths relative to the root. put() is atomic: a reader sees
// the whole object or no object, never a prefix. Every call is thread-safe and bounded in
// time (backends retry transient failures, reads as well as writes, then throw StorageError
// with one line that never contains credentials). What a call returns is a verified answer:
// a whole listing, a size the storage reported, every requested byte; NotFoundError and
// nullopt mean the storage confirmed the key is missing, never that it could not be asked.
// Large objects may be written in parallel parts and read with parallel ranged reads; that is
// the backend's business.
class Storage {
 public:
  virtual ~Storage() = default;

  virtual void put(const std::string& key, const void* data, size_t size) = 0;
  void put(const std::string& key, const std::string& data) { put(key, data.data(), data.size()); }

  // Reads `length` bytes from `offset` into dst. Throws NotFoundError if the key is missing
  // and StorageError if the object is shorter than offset + length.
  virtual void read(const std::string& key, uint64_t offset, uint64_t length, void* dst) = 0;
  // The whole object.
  std::string get(const std::string& key);

  // Object size, or nullopt if it does not exist.
  virtual std::optional<uint64_t> size(const std::string& key) = 0;
  // Every key that starts with `prefix`, sorted.
  virtual std::vector<std::string> list(const std::string& prefix) = 0;
  // Deletes the object; a missing key is not an error.
  virtual void remove(const std::string& key) = 0;

  // The root, for messages: "/ckpt" or "s3://bucket/prefix".
  virtual std::string describe() const = 0;
};

// Opens the root named by `uri`: "s3://bucket[/prefix]" or a local path.
// `s3_endpoint` overrides the S3 endpoint (else AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL).
std::unique_ptr<Storage> openStorage(const std::string& uri, const std::string& s3_endpoint = "");

}  // namespace trainrun
