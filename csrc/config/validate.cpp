// Config checks beyond types: the schema's (min)/(max)/(choices) options and cross-field rules.
#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/internal.h"
#include "core/error.h"
#include "core/strings.h"
#include "storage/storage_uri.h"

namespace trainrun::config::internal {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

bool isInteger(const FieldDescriptor* field) {
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      return true;
    default:
      return false;
  }
}

// The value of a numeric field (element `index` when repeated) printed as the user wrote it,
// and as a double for the comparison (the bounds are doubles in the schema).
std::string numberText(const Message& m, const FieldDescriptor* f, int index, double* value) {
  const auto* r = m.GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: {
      const int32_t v = rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f);
      *value = v;
      return std::to_string(v);
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      const int64_t v = rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f);
      *value = static_cast<double>(v);
      return std::to_string(v);
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      const uint32_t v = rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f);
      *value = v;
      return std::to_string(v);
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      const uint64_t v = rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f);
      *value = static_cast<double>(v);
      return std::to_string(v);
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
      *value = rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f);
      return formatDouble(*value);
    case FieldDescriptor::CPPTYPE_FLOAT:
      *value = rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f);
      return formatDouble(*value);
    default:
      return "";
  }
}

void checkRange(const Message& m, const FieldDescriptor* f, int index, const std::string& key) {
  const auto& options = f->options();
  const bool has_min = options.HasExtension(trainrun::config::min);
  const bool has_max = options.HasExtension(trainrun::config::max);
  if (!has_min && !has_max) return;
  double value = 0;
  const std::string got = numberText(m, f, index, &value);
  const double lo = options.GetExtension(trainrun::config::min);
  const double hi = options.GetExtension(trainrun::config::max);
  if ((has_min && value < lo) || (has_max && value > hi)) {
    std::string rule;
    if (has_min && has_max) {
      rule = "between " + formatDouble(lo) + " and " + formatDouble(hi);
    } else {
      rule = has_min ? ">= " + formatDouble(lo) : "<= " + formatDouble(hi);
    }
    throw ConfigError(key + " must be " + rule + " (got " + got + ")");
  }
}

void checkChoice(const std::string& value, const FieldDescriptor* f, const std::string& key) {
  const auto& options = f->options();
  const int n = options.ExtensionSize(trainrun::config::choices);
  if (n == 0) return;
  std::vector<std::string> allowed;
  for (int i = 0; i < n; ++i) allowed.push_back(options.GetExtension(trainrun::config::choices, i));
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return;
  std::string msg = key + " must be one of " + joinNames(allowed) + " (got '" + value + "')";
  const std::string guess = closestMatch(value, allowed);
  if (!guess.empty()) msg += "; did you mean '" + guess + "'?";
  throw ConfigError(msg);
}

// Checks every field, set or not: defaults are values too, and a schema edit that gives a
// field an out-of-range default should fail the tests, not a run.
void checkOptions(const Message& m, const std::string& prefix) {
  const auto* d = m.GetDescriptor();
  const auto* r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const std::string key = prefix.empty() ? f->name() : prefix + "." + f->name();
    const int count = f->is_repeated() ? r->FieldSize(m, f) : 1;
    for (int j = 0; j < count; ++j) {
      const std::string item = f->is_repeated() ? key + "[" + std::to_string(j) + "]" : key;
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        checkOptions(f->is_repeated() ? r->GetRepeatedMessage(m, f, j) : r->GetMessage(m, f), item);
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
        checkChoice(f->is_repeated() ? r->GetRepeatedString(m, f, j) : r->GetString(m, f), f, item);
      } else if (isInteger(f) || f->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE ||
                 f->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT) {
        checkRange(m, f, j, item);
      }
    }
  }
}

// data.name=table: its keys, and its local paths exist (S3 prefixes are checked by syntax
// here; the ranks list them). The table keys are refused with other data, where they would be
// silently ignored.
void checkTable(const DataConfig& d) {
  const bool table = d.name() == "table";
  if (!table) {
    for (const auto& [key, set] :
         {std::pair<const char*, bool>{"validation_path",
                                       !d.validation_path().empty() && d.name() != "tokens"},
          {"test_path", !d.test_path().empty()},
          {"label", !d.label().empty()},
          {"features", d.features_size() > 0}})
      if (set)
        throw ConfigError(std::string("data.") + key + " is read only with data.name=table (got " +
                          "data.name=" + d.name() + ")");
    return;
  }
  if (d.path().empty())
    throw ConfigError(
        "data.name=table needs data.path (the training split: a .csv, .csv.gz or .parquet "
        "file, a folder of them, or s3://bucket/prefix)");
  if (d.label().empty())
    throw ConfigError("data.name=table needs data.label (the name of the label column)");
  for (const auto& [key, path] : {std::pair<const char*, std::string>{"path", d.path()},
                                  {"validation_path", d.validation_path()},
                                  {"test_path", d.test_path()}}) {
    if (path.empty()) continue;
    const std::string name = std::string("data.") + key;
    if (path.rfind("s3://", 0) == 0) {
      parseStorageUri(path, name);
    } else if (!std::filesystem::exists(path)) {
      throw ConfigError(name + " '" + path + "' not found (check " + name + ")");
    }
  }
  for (const std::string& f : d.features()) {
    if (f == d.label())
      throw ConfigError("data.features names the label column '" + f +
                        "'; remove it from data.features");
  }
}

// data.name=tokens: its shard keys, and only there; local paths are listed at load (a glob or
// a prefix names no single file), s3:// ones are checked by syntax here.
void checkTokenShards(const DataConfig& d) {
  const bool tokens = d.name() == "tokens";
  for (const auto& [key, set] :
       {std::pair<const char*, bool>{"token_format", d.token_format() != "auto"},
        {"token_dtype", d.token_dtype() != "auto"},
        {"cache_limit_gb", d.cache_limit_gb() != DataConfig().cache_limit_gb()}})
    if (set && !tokens)
      throw ConfigError(std::string("data.") + key + " is read only with data.name=tokens (got " +
                        "data.name=" + d.name() + ")");
  if (!tokens) return;
  if (d.token_format() == "headerless" && d.token_dtype() == "auto")
    throw ConfigError(
        "data.token_format=headerless needs data.token_dtype (uint16 or uint32): a file with "
        "no header does not say how wide its tokens are");
  for (const auto& [key, path] : {std::pair<const char*, std::string>{"path", d.path()},
                                  {"validation_path", d.validation_path()}})
    if (path.rfind("s3://", 0) == 0) parseStorageUri(path, std::string("data.") + key);
}

// GPT models read token data and only token data; the presets' sizes are checked where the
// model is built (models/gpt.cpp), the sizes set here are checked at load.
void checkModelAndData(const JobConfig& config) {
  const ModelConfig& m = config.model();
  const std::string& data = config.data().name();
  const bool gpt = isGptModel(m.name());
  const bool tokens = data == "tokens" || data == "text" || data == "synthetic_tokens";
  if (gpt && !tokens)
    throw ConfigError("model.name=" + m.name() + " needs token data: data.name tokens, text or " +
                      "synthetic_tokens (got '" + data + "')");
  if (m.name() == "torchscript") {
    if (m.path().empty())
      throw ConfigError(
          "model.name=torchscript needs model.path (a module saved with "
          "torch.jit.script(module).save(path))");
    if (!std::filesystem::exists(m.path()))
      throw ConfigError("model.path '" + m.path() + "' not found (check model.path)");
    if (tokens && m.block_size() == 0)
      throw ConfigError(
          "model.name=torchscript on token data needs model.block_size (the window "
          "length its forward takes)");
  } else if (!m.path().empty()) {
    throw ConfigError(
        "model.path is only read with model.name=torchscript (got model.name=" + m.name() + ")");
  }
  if (tokens && !gpt && m.name() != "torchscript")
    throw ConfigError("data.name=" + data + " holds tokens; it needs model.name gpt-tiny, " +
                      "gpt2-124m, gpt or torchscript (got '" + m.name() + "')");
  if ((data == "tokens" || data == "text") && config.data().path().empty())
    throw ConfigError("data.name=" + data + " needs data.path (" +
                      (data == "text" ? "the file to read"
                                      : "the shards: a file, a folder, a glob or a prefix, local "
                                        "or s3://") +
                      ")");
  if (data == "table" && m.name() != "mlp")
    throw ConfigError("data.name=table needs model.name mlp (got '" + m.name() + "')");
  checkTable(config.data());
  checkTokenShards(config.data());
  if (m.name() == "gpt") {
    for (const auto& [key, value] : {std::pair<const char*, int64_t>{"n_layer", m.n_layer()},
                                     {"n_head", m.n_head()},
                                     {"n_embd", m.n_embd()},
                                     {"block_size", m.block_size()}}) {
      if (value == 0)
        throw ConfigError(std::string("model.name=gpt needs model.") + key +
                          " (or use a preset: model.name=gpt-tiny or gpt2-124m)");
    }
  }
  if (m.n_head() > 0 && m.n_embd() > 0 && m.n_embd() % m.n_head() != 0)
    throw ConfigError("model.n_embd (" + std::to_string(m.n_embd()) +
                      ") must be divisible by model.n_head (" + std::to_string(m.n_head()) + ")");
}

// Storage URIs by syntax alone (the launcher runs this before any rank starts); whether the
// location works is the ranks' start-up probe.
void checkStorage(const JobConfig& config) {
  const CheckpointConfig& c = config.checkpoint();
  if (!c.uri().empty()) parseStorageUri(c.uri(), "checkpoint.uri");  // empty: no checkpoints
  if (!config.output().uri().empty()) parseStorageUri(config.output().uri(), "output.uri");
  const std::string& resume = config.resume();
  if (resume != "auto" && resume != "never") parseStorageUri(resume, "resume");
  const std::string& endpoint = c.s3_endpoint();
  if (!endpoint.empty() && endpoint.rfind("http://", 0) != 0 && endpoint.rfind("https://", 0) != 0)
    throw ConfigError("checkpoint.s3_endpoint '" + endpoint +
                      "' must start with http:// or https://");
}

void checkCrossField(const JobConfig& config) {
  const TrainConfig& train = config.train();
  if (train.global_batch_size() % train.grad_accum_steps() != 0) {
    throw ConfigError("train.global_batch_size (" + std::to_string(train.global_batch_size()) +
                      ") must be divisible by train.grad_accum_steps (" +
                      std::to_string(train.grad_accum_steps()) + ")");
  }
  if (train.cuda_graph() && config.optimizer().name() != "adamw")
    throw ConfigError(
        "train.cuda_graph needs optimizer.name: adamw (the captured step is the fused AdamW's, "
        "on the device; got " +
        config.optimizer().name() + ")");
  if (train.cuda_graph() && train.profile())
    throw ConfigError(
        "train.cuda_graph and train.profile exclude each other (the profile syncs the device "
        "between phases the graph runs as one launch): drop one");
  checkModelAndData(config);
  // Fail at load, on the launcher, rather than in every rank after the processes start.
  // Tables and token shards name folders, globs, prefixes or s3://: their ranks list them.
  const std::string& name = config.data().name();
  const std::string data_file = name == "table" || name == "tokens" ? "" : dataPath(config);
  if (!data_file.empty() && !std::filesystem::exists(data_file)) {
    const std::string fix = config.data().path().empty()
                                ? "run scripts/setup.sh to fetch it, or set data.path"
                                : "check data.path";
    throw ConfigError("data file '" + data_file + "' not found (" + fix + ")");
  }
  const std::string& resume = config.resume();
  if (resume != "auto" && resume != "never" && resume.find('/') == std::string::npos) {
    throw ConfigError(
        "resume must be auto, never, or the URI of a checkpoint such as "
        "s3://bucket/prefix/run/step-00000100 (got '" +
        resume + "')");
  }
  checkStorage(config);
}

}  // namespace

void validateJobConfig(const JobConfig& config) {
  checkOptions(config, "");
  checkCrossField(config);
}

}  // namespace trainrun::config::internal
