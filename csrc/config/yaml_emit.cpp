// The resolved config as YAML: every field in schema order, defaults filled in, exact doubles.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "config/config.h"
#include "config/internal.h"

namespace trainrun::config {
namespace internal {

std::string formatDouble(double value) {
  // The shortest "%.*g" that parses back to the same bits: readable ("0.1", not
  // "0.10000000000000001") and still exact, which the round-trip test relies on.
  char buffer[32];
  // Whole numbers as such ("300", not "3e+02"), below 2^53 where every integer is exact.
  if (value == std::trunc(value) && std::fabs(value) < 9007199254740992.0) {
    std::snprintf(buffer, sizeof(buffer), "%.0f", value);
    return buffer;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  return buffer;
}

}  // namespace internal

namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// One scalar as YAML; strings always double-quoted so "yes" or "10" stay strings.
void emitScalar(YAML::Emitter& out, const Message& m, const FieldDescriptor* f, int index) {
  const auto* r = m.GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      out << (rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
      return;
    case FieldDescriptor::CPPTYPE_INT64:
      out << (rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f));
      return;
    case FieldDescriptor::CPPTYPE_UINT32:
      out << (rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
      return;
    case FieldDescriptor::CPPTYPE_UINT64:
      out << (rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
      return;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      out << internal::formatDouble(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
      return;
    case FieldDescriptor::CPPTYPE_FLOAT:
      out << internal::formatDouble(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
      return;
    case FieldDescriptor::CPPTYPE_BOOL:
      out << YAML::TrueFalseBool << (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f));
      return;
    case FieldDescriptor::CPPTYPE_STRING:
      out << YAML::DoubleQuoted << (rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f));
      return;
    case FieldDescriptor::CPPTYPE_ENUM:
      out << (rep ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f))->name();
      return;
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return;  // handled by emitMessage
  }
}

void emitMessage(YAML::Emitter& out, const Message& m) {
  const auto* d = m.GetDescriptor();
  const auto* r = m.GetReflection();
  out << YAML::BeginMap;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const bool is_message = f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
    out << YAML::Key << f->name() << YAML::Value;
    if (f->is_repeated()) {
      // Scalar lists in flow style ("hidden: [256, 256]"), as people write them.
      out << (is_message ? YAML::Block : YAML::Flow) << YAML::BeginSeq;
      for (int j = 0; j < r->FieldSize(m, f); ++j) {
        if (is_message) {
          emitMessage(out, r->GetRepeatedMessage(m, f, j));
        } else {
          emitScalar(out, m, f, j);
        }
      }
      out << YAML::EndSeq;
    } else if (is_message) {
      emitMessage(out, r->GetMessage(m, f));
    } else if (!r->HasField(m, f) && !f->has_default_value() &&
               f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      // A string with no schema default (run.name, data.path) left unset means "derive it";
      // null keeps that meaning when the YAML is loaded again, where "" would not.
      out << YAML::Null;
    } else {
      emitScalar(out, m, f, -1);  // an unset field reads as its schema default
    }
  }
  out << YAML::EndMap;
}

}  // namespace

std::string toYaml(const JobConfig& config) {
  YAML::Emitter out;
  emitMessage(out, config);
  return std::string(out.c_str()) + "\n";
}

}  // namespace trainrun::config
