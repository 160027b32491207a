// Model factory and artifact writing.
#include "models/model.h"

#include <cstdio>

#include "core/error.h"
#include "core/file.h"
#include "models/gpt.h"
#include "models/mlp.h"
#include "models/torchscript_model.h"

namespace trainrun {

std::shared_ptr<Model> makeModel(const config::JobConfig& config, int64_t in_features,
                                 int64_t num_classes, const InputTransform& transform) {
  const std::string& name = config.model().name();
  if (name == "mlp") {
    std::vector<int64_t> widths{in_features};
    for (int64_t h : config::mlpHidden(config)) widths.push_back(h);
    widths.push_back(num_classes);
    return std::make_shared<Mlp>(widths, transform);
  }
  if (config::isGptModel(name)) {
    // Token data: in_features is the window length, num_classes the data's vocabulary.
    GptSizes sizes = gptSizes(config);
    if (sizes.vocab_size == 0) sizes.vocab_size = num_classes;
    if (sizes.vocab_size < num_classes)
      throw ConfigError("model.vocab_size (" + std::to_string(sizes.vocab_size) +
                        ") is smaller than the data's vocabulary (" + std::to_string(num_classes) +
                        ")");
    if (in_features != sizes.block_size)
      throw ConfigError("data windows hold " + std::to_string(in_features) +
                        " tokens but model.block_size is " + std::to_string(sizes.block_size));
    return std::make_shared<Gpt>(sizes, config.model().fused_norm());
  }
  if (name == "torchscript") return std::make_shared<TorchScriptModel>(config.model().path());
  throw ConfigError("model.name '" + name +
                    "' is not a built-in model (expected: mlp, gpt-tiny, gpt2-124m, gpt, "
                    "torchscript)");
}

void saveTorchScript(const Model& model, const std::string& path) {
  // TorchScript saves to a path; the model can be large, so it is not buffered in memory.
  const std::string tmp = tempPathBeside(path);
  try {
    model.toTorchScript().save(tmp);
  } catch (const c10::Error& e) {
    std::remove(tmp.c_str());
    throw StorageError("cannot write model artifact " + path + ": " + e.what_without_backtrace());
  }
  commitFileAtomic(tmp, path);
}

}  // namespace trainrun
