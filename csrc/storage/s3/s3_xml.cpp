// The few pieces of S3's XML that trainrun reads or writes; not a general XML parser.
#include "storage/s3/s3_xml.h"

#include <cstdlib>

namespace trainrun::s3 {
namespace {

// Appends the UTF-8 encoding of a numeric character reference.
void appendUtf8(std::string& out, unsigned long cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string xmlUnescape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string::npos) {
      out += s[i];
      continue;
    }
    std::string entity = s.substr(i + 1, semi - i - 1);
    if (entity == "amp") {
      out += '&';
    } else if (entity == "lt") {
      out += '<';
    } else if (entity == "gt") {
      out += '>';
    } else if (entity == "quot") {
      out += '"';
    } else if (entity == "apos") {
      out += '\'';
    } else if (entity.size() > 1 && entity[0] == '#') {
      bool hex = entity[1] == 'x' || entity[1] == 'X';
      appendUtf8(out, std::strtoul(entity.c_str() + (hex ? 2 : 1), nullptr, hex ? 16 : 10));
    } else {
      out += s.substr(i, semi - i + 1);
    }
    i = semi;
  }
  return out;
}

// Finds <tag>text</tag> from `from`; the exact "<tag>" spelling keeps <Key> apart from
// <KeyCount>. S3 never puts attributes on the elements read here.
std::optional<std::pair<size_t, std::string>> findElement(const std::string& xml,
                                                          const std::string& tag, size_t from) {
  const std::string open = "<" + tag + ">";
  const std::string close = "</" + tag + ">";
  size_t begin = xml.find(open, from);
  if (begin == std::string::npos) return std::nullopt;
  begin += open.size();
  size_t end = xml.find(close, begin);
  if (end == std::string::npos) return std::nullopt;
  return std::make_pair(end + close.size(), xmlUnescape(xml.substr(begin, end - begin)));
}

}  // namespace

std::optional<std::string> xmlFirst(const std::string& xml, const std::string& tag) {
  auto found = findElement(xml, tag, 0);
  if (!found) return std::nullopt;
  return found->second;
}

std::vector<std::string> xmlAll(const std::string& xml, const std::string& tag) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (auto found = findElement(xml, tag, pos)) {
    out.push_back(std::move(found->second));
    pos = found->first;
  }
  return out;
}

std::string xmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

ListPage parseListObjectsV2(const std::string& xml) {
  ListPage page;
  // Each <Contents> block names one object; Key, Size and ETag are read from its raw text.
  const std::string open = "<Contents>", close = "</Contents>";
  for (size_t at = xml.find(open); at != std::string::npos; at = xml.find(open, at)) {
    const size_t end = xml.find(close, at);
    if (end == std::string::npos) break;
    const std::string block = xml.substr(at + open.size(), end - at - open.size());
    page.keys.push_back(xmlFirst(block, "Key").value_or(""));
    page.etags.push_back(xmlFirst(block, "ETag").value_or(""));
    const std::string size = xmlFirst(block, "Size").value_or("0");
    page.sizes.push_back(size.empty() ? 0 : std::strtoull(size.c_str(), nullptr, 10));
    at = end + close.size();
  }
  page.truncated = xmlFirst(xml, "IsTruncated").value_or("false") == "true";
  if (page.truncated) page.next_token = xmlFirst(xml, "NextContinuationToken").value_or("");
  return page;
}

ErrorBody parseError(const std::string& xml) {
  ErrorBody error;
  if (xml.find("<Error>") == std::string::npos) return error;
  error.code = xmlFirst(xml, "Code").value_or("");
  error.message = xmlFirst(xml, "Message").value_or("");
  return error;
}

std::string completeMultipartBody(const std::vector<std::pair<int, std::string>>& parts) {
  std::string body = "<CompleteMultipartUpload>";
  for (const auto& [number, etag] : parts) {
    body += "<Part><PartNumber>" + std::to_string(number) + "</PartNumber><ETag>" +
            xmlEscape(etag) + "</ETag></Part>";
  }
  body += "</CompleteMultipartUpload>";
  return body;
}

}  // namespace trainrun::s3
