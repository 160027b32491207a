// Model factory and artifact writing.
#include "models/model.h"

#include <cstdio>

#include "core/error.h"
#include "models/mlp.h"

namespace trainrun {

std::shared_ptr<Model> makeModel(const config::JobConfig& config, int64_t in_features,
                                 int64_t num_classes) {
  const std::string& name = config.model().name();
  if (name == "mlp") {
    std::vector<int64_t> widths{in_features};
    for (int64_t h : config::mlpHidden(config)) widths.push_back(h);
    widths.push_back(num_classes);
    return std::make_shared<Mlp>(widths);
  }
  throw ConfigError("model.name '" + name + "' is not a built-in model (expected: mlp)");
}

void saveTorchScript(const Model& model, const std::string& path) {
  std::string tmp = path + ".tmp";
  try {
    model.toTorchScript().save(tmp);
  } catch (const c10::Error& e) {
    std::remove(tmp.c_str());
    throw StorageError("cannot write model artifact " + path + ": " + e.what_without_backtrace());
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw StorageError("cannot rename " + tmp + " to " + path);
}

}  // namespace trainrun
