// YAML node -> proto message by schema reflection, with one-line errors for every mismatch.
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "config/internal.h"
#include "core/error.h"
#include "core/strings.h"

namespace trainrun::config::internal {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

std::string dotted(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// "file:line:col: " for nodes read from the file, "--set k=v: " for nodes from an override:
// the user needs to know which of the two to edit.
std::string where(const YAML::Node& node, const YamlOrigin& origin) {
  if (!origin.override_text.empty()) return "--set " + origin.override_text + ": ";
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) return origin.source + ": ";
  return origin.source + ":" + std::to_string(mark.line + 1) + ":" +
         std::to_string(mark.column + 1) + ": ";
}

[[noreturn]] void fail(const YAML::Node& node, const YamlOrigin& origin, const std::string& what) {
  throw ConfigError(where(node, origin) + what);
}

// Quoted ("10") or !!str-tagged scalars are strings in YAML; a number field must not
// silently accept them, but the message says how to fix it.
bool isQuoted(const YAML::Node& node) {
  return node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str";
}

std::string describe(const YAML::Node& node) {
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a list";
  if (isQuoted(node)) return "the quoted string '" + node.Scalar() + "'; remove the quotes";
  return "'" + node.Scalar() + "'";
}

// What a value of this field must look like, for "<key> must be <expected>".
std::string expected(const FieldDescriptor* field) {
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
      return "an integer";
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      return "a non-negative integer";
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      return "a number";
    case FieldDescriptor::CPPTYPE_BOOL:
      return "true or false";
    case FieldDescriptor::CPPTYPE_STRING:
      return "a string";
    case FieldDescriptor::CPPTYPE_ENUM: {
      std::vector<std::string> names;
      for (int i = 0; i < field->enum_type()->value_count(); ++i) {
        names.push_back(field->enum_type()->value(i)->name());
      }
      return "one of " + joinNames(names);
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return "a map of keys";
  }
  return "a value";
}

// Whole-string decimal integers; reject "1e3", "64.0" and overflow rather than truncating.
bool parseInt64(const std::string& text, int64_t* out) {
  if (text.empty() ||
      !(std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '-' || text[0] == '+')) {
    return false;
  }
  errno = 0;
  char* end = nullptr;
  *out = std::strtoll(text.c_str(), &end, 10);
  return errno == 0 && end == text.c_str() + text.size();
}

bool parseUInt64(const std::string& text, uint64_t* out) {
  // strtoull would wrap "-1" to 2^64-1.
  if (text.empty() || !(std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '+')) {
    return false;
  }
  errno = 0;
  char* end = nullptr;
  *out = std::strtoull(text.c_str(), &end, 10);
  return errno == 0 && end == text.c_str() + text.size();
}

bool parseNumber(const std::string& text, double* out) {
  if (text == ".inf" || text == ".nan" || text == "-.inf") return false;  // not finite
  if (text.empty() || std::isspace(static_cast<unsigned char>(text[0]))) return false;
  errno = 0;
  char* end = nullptr;
  *out = std::strtod(text.c_str(), &end);
  // ERANGE with a nonzero result is a subnormal, which is exact; zero means it underflowed.
  const bool in_range = errno == 0 || (errno == ERANGE && *out != 0);
  return in_range && end == text.c_str() + text.size() && std::isfinite(*out);
}

bool parseBool(const std::string& text, bool* out) {
  static const std::set<std::string> kTrue = {"true", "True", "TRUE", "yes", "Yes",
                                              "YES",  "on",   "On",   "ON"};
  static const std::set<std::string> kFalse = {"false", "False", "FALSE", "no", "No",
                                               "NO",    "off",   "Off",   "OFF"};
  if (kTrue.count(text)) *out = true;
  if (kFalse.count(text)) *out = false;
  return kTrue.count(text) || kFalse.count(text);
}

// Sets (or, when `repeated`, appends) one scalar value.
void setScalar(const YAML::Node& node, const FieldDescriptor* field, Message* message,
               const std::string& key, const YamlOrigin& origin) {
  const Reflection* refl = message->GetReflection();
  const bool repeated = field->is_repeated();
  const std::string text = node.IsScalar() ? node.Scalar() : "";
  const bool is_string_field = field->cpp_type() == FieldDescriptor::CPPTYPE_STRING;
  if (!node.IsScalar() || (isQuoted(node) && !is_string_field)) {
    fail(node, origin, key + " must be " + expected(field) + " (got " + describe(node) + ")");
  }
  auto bad = [&](const std::string& extra = "") {
    fail(node, origin,
         key + " must be " + expected(field) + extra + " (got " + describe(node) + ")");
  };
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: {
      int64_t v = 0;
      constexpr int64_t kLo = std::numeric_limits<int32_t>::min();
      constexpr int64_t kHi = std::numeric_limits<int32_t>::max();
      if (!parseInt64(text, &v)) bad();
      if (v < kLo || v > kHi)
        bad(" between " + std::to_string(kLo) + " and " + std::to_string(kHi));
      const auto i = static_cast<int32_t>(v);
      repeated ? refl->AddInt32(message, field, i) : refl->SetInt32(message, field, i);
      return;
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t i = 0;
      if (!parseInt64(text, &i)) bad();
      repeated ? refl->AddInt64(message, field, i) : refl->SetInt64(message, field, i);
      return;
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint64_t v = 0;
      constexpr uint64_t kHi = std::numeric_limits<uint32_t>::max();
      if (!parseUInt64(text, &v)) bad();
      if (v > kHi) bad(" up to " + std::to_string(kHi));
      const auto u = static_cast<uint32_t>(v);
      repeated ? refl->AddUInt32(message, field, u) : refl->SetUInt32(message, field, u);
      return;
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t u = 0;
      if (!parseUInt64(text, &u)) bad();
      repeated ? refl->AddUInt64(message, field, u) : refl->SetUInt64(message, field, u);
      return;
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      double d = 0;
      if (!parseNumber(text, &d)) bad();
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
        repeated ? refl->AddDouble(message, field, d) : refl->SetDouble(message, field, d);
      } else {
        const auto f = static_cast<float>(d);
        repeated ? refl->AddFloat(message, field, f) : refl->SetFloat(message, field, f);
      }
      return;
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool b = false;
      if (!parseBool(text, &b)) bad();
      repeated ? refl->AddBool(message, field, b) : refl->SetBool(message, field, b);
      return;
    }
    case FieldDescriptor::CPPTYPE_STRING:
      repeated ? refl->AddString(message, field, text) : refl->SetString(message, field, text);
      return;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* value = field->enum_type()->FindValueByName(text);
      if (value == nullptr) bad();
      repeated ? refl->AddEnum(message, field, value) : refl->SetEnum(message, field, value);
      return;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;  // handled by the caller
  }
}

[[noreturn]] void failUnknownKey(const YAML::Node& key_node, const google::protobuf::Descriptor* d,
                                 const std::string& prefix, const YamlOrigin& origin) {
  std::vector<std::string> known;
  for (int i = 0; i < d->field_count(); ++i) known.push_back(d->field(i)->name());
  const std::string key = key_node.Scalar();
  std::string msg = "unknown config key '" + dotted(prefix, key) + "'";
  const std::string guess = closestMatch(key, known);
  if (!guess.empty()) msg += ": did you mean '" + dotted(prefix, guess) + "'?";
  msg += prefix.empty() ? " (top-level keys: " : " (keys in " + prefix + ": ";
  fail(key_node, origin, msg + joinNames(known) + ")");
}

void setField(const YAML::Node& value, const FieldDescriptor* field, Message* message,
              const std::string& key, const YamlOrigin& origin) {
  const Reflection* refl = message->GetReflection();
  if (value.IsNull()) {  // "key:" or "key: null" means "use the default"
    refl->ClearField(message, field);
    return;
  }
  const bool is_message = field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
  if (!field->is_repeated()) {
    if (is_message) {
      mergeYaml(value, refl->MutableMessage(message, field), key, origin);
    } else {
      setScalar(value, field, message, key, origin);
    }
    return;
  }
  if (value.IsMap() && !is_message) {
    fail(value, origin, key + " must be a list of values (got a map)");
  }
  // A list replaces the whole field (so --set model.hidden=[64] drops the file's widths);
  // a single value counts as a one-element list.
  refl->ClearField(message, field);
  std::vector<YAML::Node> items;
  if (value.IsSequence()) {
    for (const auto& item : value) items.push_back(item);
  } else {
    items.push_back(value);
  }
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string item_key = key + "[" + std::to_string(i) + "]";
    if (is_message) {
      mergeYaml(items[i], refl->AddMessage(message, field), item_key, origin);
    } else if (items[i].IsNull()) {
      fail(items[i], origin, item_key + " must be " + expected(field) + " (got null)");
    } else {
      setScalar(items[i], field, message, item_key, origin);
    }
  }
}

}  // namespace

void mergeYaml(const YAML::Node& node, Message* message, const std::string& prefix,
               const YamlOrigin& origin) {
  if (node.IsNull()) return;
  if (!node.IsMap()) {
    const std::string what = prefix.empty() ? "the config must be a map of keys at the top level"
                                            : prefix + " must be a map of keys";
    fail(node, origin, what + " (got " + describe(node) + ")");
  }
  const google::protobuf::Descriptor* descriptor = message->GetDescriptor();
  std::set<std::string> seen;
  for (const auto& entry : node) {
    const YAML::Node& key_node = entry.first;
    if (!key_node.IsScalar()) {
      fail(key_node, origin, "config keys must be plain names (got " + describe(key_node) + ")");
    }
    const std::string key = dotted(prefix, key_node.Scalar());
    // yaml-cpp keeps both copies of a repeated key; silently taking one would hide a mistake.
    if (!seen.insert(key_node.Scalar()).second) {
      fail(key_node, origin, "duplicate config key '" + key + "'");
    }
    const FieldDescriptor* field = descriptor->FindFieldByName(key_node.Scalar());
    if (field == nullptr) failUnknownKey(key_node, descriptor, prefix, origin);
    setField(entry.second, field, message, key, origin);
  }
}

}  // namespace trainrun::config::internal
