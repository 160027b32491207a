// sageMakerTrainingJob: hyperparameters.json, channels and SM_* variables -> config + overrides.
#include "pipeline/sagemaker.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "config/config.h"
#include "core/env.h"
#include "core/error.h"
#include "core/file.h"
#include "core/strings.h"

namespace trainrun::pipeline {
namespace fs = std::filesystem;
namespace {

constexpr const char* kConfigChannel = "config";
constexpr const char* kConfigHyperparameter = "config";
constexpr const char* kDefaultConfig = "configs/digits-mlp.yaml";

// Channels SageMaker Pipelines' processing step hands on, and the config keys they fill.
struct ChannelKey {
  const char* channel;
  const char* key;
};
constexpr ChannelKey kChannelKeys[] = {
    {"train", "data.path"}, {"validation", "data.validation_path"}, {"test", "data.test_path"}};

// Datasets that read one file: a channel (a folder) gives them its only file.
bool readsOneFile(const std::string& data_name) {
  return data_name == "digits" || data_name == "tokens" || data_name == "text";
}

// Generated data: a channel has nothing to give it.
bool readsNoFile(const std::string& data_name) {
  return data_name == "synthetic" || data_name == "synthetic_tokens";
}

bool isDir(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

// The field of JobConfig named by a dotted key ("data.path"), or nullptr when the schema has no
// such key; `parent` gets the message holding it.
const google::protobuf::FieldDescriptor* findKey(const config::JobConfig& config,
                                                 const std::string& key,
                                                 const google::protobuf::Message** parent) {
  const google::protobuf::Message* message = &config;
  const size_t dot = key.find('.');
  const auto* section = message->GetDescriptor()->FindFieldByName(key.substr(0, dot));
  if (section == nullptr || dot == std::string::npos ||
      section->type() != google::protobuf::FieldDescriptor::TYPE_MESSAGE)
    return nullptr;
  message = &message->GetReflection()->GetMessage(*message, section);
  *parent = message;
  return message->GetDescriptor()->FindFieldByName(key.substr(dot + 1));
}

bool keySet(const config::JobConfig& config, const std::string& key) {
  const google::protobuf::Message* parent = nullptr;
  const auto* field = findKey(config, key, &parent);
  return field != nullptr && parent->GetReflection()->HasField(*parent, field);
}

// Regular files under `dir`, sorted, at any depth (a channel copies an S3 prefix's folders).
std::vector<std::string> filesUnder(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec))
    if (it->is_regular_file(ec)) files.push_back(it->path().string());
  std::sort(files.begin(), files.end());
  return files;
}

std::string readJsonFile(const std::string& path, nlohmann::json* doc) {
  std::optional<std::string> text = readWholeFile(path);
  if (!text) return "";
  *doc = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (doc->is_discarded() || !doc->is_object())
    throw ConfigError(path + " is not a JSON object; fix the training job's definition");
  return *text;
}

// inputdataconfig.json: a channel in Pipe mode is a FIFO, not a folder of files (an error).
// Returns the channels distributed ShardedByS3Key (each host gets part of the objects).
std::set<std::string> checkInputModes(const std::string& path) {
  std::set<std::string> sharded;
  nlohmann::json doc;
  if (readJsonFile(path, &doc).empty()) return sharded;
  for (const auto& [channel, spec] : doc.items()) {
    if (!spec.is_object()) continue;
    const auto mode = spec.value("TrainingInputMode", nlohmann::json());
    if (mode.is_string() && mode.get<std::string>() == "Pipe")
      throw ConfigError("channel " + channel + " uses Pipe input mode (" + path +
                        "); trainrun reads files: give the channel InputMode File or FastFile");
    const auto distribution = spec.value("S3DistributionType", nlohmann::json());
    if (distribution.is_string() && distribution.get<std::string>() == "ShardedByS3Key")
      sharded.insert(channel);
  }
  return sharded;
}

std::string resolveConfigPath(const std::string& value, const SageMakerLayout& layout,
                              const std::string& image_root) {
  std::string path = value;
  if (path.size() >= 2 && path.front() == '"' && path.back() == '"')  // the SDK's json.dumps
    path = path.substr(1, path.size() - 2);
  if (fs::path(path).is_absolute()) {
    if (fs::is_regular_file(path)) return path;
    throw ConfigError("hyperparameter config='" + value + "': no such file");
  }
  const std::string channel = layout.channelDir(kConfigChannel);
  for (const std::string& base : {channel, image_root}) {
    if (base.empty()) continue;
    const fs::path candidate = fs::path(base) / path;
    if (fs::is_regular_file(candidate)) return candidate.string();
  }
  throw ConfigError("hyperparameter config='" + value + "': no such file in the config channel (" +
                    channel + ") or the image (" + image_root + ")");
}

// The config file and how it was chosen.
std::pair<std::string, std::string> chooseConfig(
    const std::map<std::string, std::string>& hyperparameters, const SageMakerLayout& layout,
    const std::string& image_root) {
  auto hp = hyperparameters.find(kConfigHyperparameter);
  if (hp != hyperparameters.end())
    return {resolveConfigPath(hp->second, layout, image_root), "the hyperparameter config"};
  const std::string channel = layout.channelDir(kConfigChannel);
  if (isDir(channel)) {
    std::vector<std::string> yaml;
    for (const std::string& f : filesUnder(channel)) {
      const std::string ext = fs::path(f).extension().string();
      if (ext == ".yaml" || ext == ".yml") yaml.push_back(f);
    }
    if (yaml.size() == 1) return {yaml[0], "the config channel"};
    throw ConfigError("the config channel (" + channel + ") holds " +
                      plural(static_cast<long long>(yaml.size()), "YAML file") +
                      "; it needs exactly one, or name one with the hyperparameter config");
  }
  return {(fs::path(image_root) / kDefaultConfig).string(), "the image's default"};
}

// A hyperparameter's error reads as such: "hyperparameter train.steps='x': ...".
[[noreturn]] void rethrowNamed(const ConfigError& e,
                               const std::map<std::string, std::string>& hyperparameters,
                               const std::string& file) {
  const std::string message = e.what();
  for (const auto& [key, value] : hyperparameters) {
    const std::string set = "--set " + key + "=" + value + ": ";
    std::string rest;
    if (message.rfind(set, 0) == 0) {
      rest = message.substr(set.size());
    } else if (message.rfind(key, 0) == 0 && message.size() > key.size() &&
               std::string(" (:=").find(message[key.size()]) != std::string::npos) {
      rest = message;  // a range or cross-field check on the value it set
    } else {
      continue;
    }
    throw ConfigError("hyperparameter " + key + "='" + value + "' (" + file + "): " + rest);
  }
  throw e;
}

}  // namespace

std::string SageMakerLayout::hyperparametersFile() const {
  return root_ + "/opt/ml/input/config/hyperparameters.json";
}
std::string SageMakerLayout::inputDataConfigFile() const {
  return root_ + "/opt/ml/input/config/inputdataconfig.json";
}
std::string SageMakerLayout::channelDir(const std::string& channel) const {
  std::string upper = channel;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::string sm = env_(env::kSmChannelPrefix + upper);
  return sm.empty() ? root_ + "/opt/ml/input/data/" + channel : sm;
}
std::string SageMakerLayout::modelDir() const {
  const std::string sm = env_(env::kSmModelDir);
  return sm.empty() ? root_ + "/opt/ml/model" : sm;
}
std::string SageMakerLayout::outputDataDir() const {
  const std::string sm = env_(env::kSmOutputDataDir);
  return sm.empty() ? root_ + "/opt/ml/output/data" : sm;
}
std::string SageMakerLayout::tensorboardDir() const { return root_ + "/opt/ml/output/tensorboard"; }
std::string SageMakerLayout::failureFile() const { return root_ + "/opt/ml/output/failure"; }
std::string SageMakerLayout::checkpointsDir() const { return root_ + "/opt/ml/checkpoints"; }

std::map<std::string, std::string> readHyperparameters(const std::string& path) {
  std::map<std::string, std::string> out;
  nlohmann::json doc;
  if (readJsonFile(path, &doc).empty()) return out;
  for (const auto& [key, value] : doc.items()) {
    if (key.rfind("sagemaker_", 0) == 0 || key.rfind('_', 0) == 0) continue;
    if (value.is_object() || value.is_null())
      throw ConfigError("hyperparameter " + key + " in " + path +
                        " must be a string such as \"100\" (got " + value.dump() + ")");
    out[key] = value.is_string() ? value.get<std::string>() : value.dump();
  }
  return out;
}

TrainingJob sageMakerTrainingJob(const SageMakerLayout& layout, const std::string& image_root,
                                 int hosts) {
  const std::string hp_file = layout.hyperparametersFile();
  const std::map<std::string, std::string> hyperparameters = readHyperparameters(hp_file);
  const std::set<std::string> sharded = checkInputModes(layout.inputDataConfigFile());
  TrainingJob job;
  std::tie(job.config_path, job.config_source) = chooseConfig(hyperparameters, layout, image_root);
  for (const auto& [key, value] : hyperparameters)
    if (key != kConfigHyperparameter) job.overrides.push_back(key + "=" + value);
  std::optional<std::string> text = readWholeFile(job.config_path);
  if (!text)
    throw ConfigError("config file '" + job.config_path + "' (" + job.config_source +
                      ") cannot be read");

  config::JobConfig given;  // the config and hyperparameters alone: which keys did they set?
  try {
    given = config::mergeJobConfig(*text, job.overrides, job.config_path);
  } catch (const ConfigError& e) {
    rethrowNamed(e, hyperparameters, hp_file);
  }
  auto fill = [&](const std::string& key, const std::string& value, const std::string& why) {
    if (keySet(given, key)) {
      job.notes.push_back(key + " from the config (" + why + " not used)");
      return;
    }
    job.overrides.push_back(key + "=" + value);
    job.notes.push_back(key + "=" + value + " (" + why + ")");
  };
  for (const ChannelKey& ck : kChannelKeys) {
    const std::string dir = layout.channelDir(ck.channel);
    if (!isDir(dir)) continue;
    const google::protobuf::Message* parent = nullptr;
    if (findKey(given, ck.key, &parent) == nullptr) {
      job.notes.push_back(std::string("channel ") + ck.channel + " not used: this build has no " +
                          ck.key);
      continue;
    }
    if (readsNoFile(given.data().name())) {
      job.notes.push_back(std::string("channel ") + ck.channel +
                          " not used: data.name=" + given.data().name() + " reads no files");
      continue;
    }
    std::string value = dir;
    if (readsOneFile(given.data().name())) {
      const std::vector<std::string> files = filesUnder(dir);
      if (files.size() != 1 && !keySet(given, ck.key))
        throw ConfigError(std::string("channel ") + ck.channel + " (" + dir + ") holds " +
                          plural(static_cast<long long>(files.size()), "file") + "; data.name=" +
                          given.data().name() + " reads one file: give the channel one file");
      if (files.size() == 1) value = files[0];
    }
    // Every rank reads the whole data set and trains on its own share of it (as
    // DistributedSampler does): hosts holding different objects would train on other data.
    if (hosts > 1 && sharded.count(ck.channel) != 0 && !keySet(given, ck.key))
      throw ConfigError(std::string("channel ") + ck.channel + " is ShardedByS3Key (" +
                        layout.inputDataConfigFile() + "): each of the " + std::to_string(hosts) +
                        " hosts holds part of its objects, but every trainrun rank reads the "
                        "whole data set and takes its own share; give the channel "
                        "S3DataDistributionType FullyReplicated");
    fill(ck.key, value, std::string("channel ") + ck.channel);
  }
  fill("output.model_dir", layout.modelDir(), "SageMaker's model folder");
  fill("output.dir", layout.outputDataDir(), "SageMaker's output data folder");
  if (isDir(layout.tensorboardDir()))
    fill("output.tensorboard_dir", layout.tensorboardDir(), "SageMaker's TensorBoard folder");

  try {  // every value typed and range-checked now, each error naming its hyperparameter
    config::parseJobConfig(*text, job.overrides, job.config_path);
  } catch (const ConfigError& e) {
    rethrowNamed(e, hyperparameters, hp_file);
  }
  return job;
}

std::string imageRoot() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return ".";
  return exe.parent_path().parent_path().string();
}

void writeFailureReason(const std::string& path, const std::string& reason) {
  if (path.empty()) return;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return;  // a reason is already there (the first failure wins), or no folder
  writeAll(fd, (oneLine(reason) + "\n").data(), oneLine(reason).size() + 1);
  ::close(fd);
}

}  // namespace trainrun::pipeline
