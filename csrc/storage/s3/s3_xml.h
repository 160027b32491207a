// The few pieces of S3's XML that trainrun reads or writes; not a general XML parser.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace trainrun::s3 {

// Text of the first <tag>...</tag> element, entities decoded; nullopt when absent.
std::optional<std::string> xmlFirst(const std::string& xml, const std::string& tag);
// Texts of every <tag>...</tag> element in document order, entities decoded.
std::vector<std::string> xmlAll(const std::string& xml, const std::string& tag);
// Escapes text for an element body.
std::string xmlEscape(const std::string& text);

// One page of a ListObjectsV2 response.
struct ListPage {
  std::vector<std::string> keys;
  // Per key (same order): Size and ETag (quotes kept, as S3 sends it); 0 and "" when absent.
  std::vector<uint64_t> sizes;
  std::vector<std::string> etags;
  bool truncated = false;
  std::string next_token;  // NextContinuationToken; empty when not truncated
};
ListPage parseListObjectsV2(const std::string& xml);

// Code and Message of an <Error> body; empty strings when the body has none (HEAD, proxies).
struct ErrorBody {
  std::string code;
  std::string message;
};
ErrorBody parseError(const std::string& xml);

// Body of CompleteMultipartUpload from (part number, ETag) pairs in ascending part order.
std::string completeMultipartBody(const std::vector<std::pair<int, std::string>>& parts);

}  // namespace trainrun::s3
