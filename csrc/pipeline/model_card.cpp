// The model card document.
#include "pipeline/model_card.h"

namespace trainrun {

nlohmann::ordered_json modelCard(const ModelCardInfo& info) {
  using Json = nlohmann::ordered_json;
  Json card;
  card["name"] = info.run;
  card["model"] = info.model_name;
  card["format"] = "TorchScript: torch.jit.load(\"model.pt\")(x)";
  card["trainrun"] = {{"version", trainrunVersion()}, {"git_revision", trainrunGitRevision()}};
  if (info.tokens) {
    card["inputs"] = {{"name", "x"},
                      {"dtype", "int64"},
                      {"shape", {nullptr, info.input_width}},
                      {"description", "token ids in [0, " + std::to_string(info.num_classes) +
                                          "), one window per row"}};
    card["outputs"] = {
        {"dtype", "float32"},
        {"shape", {nullptr, info.input_width, info.num_classes}},
        {"description", "next-token logits at every position (softmax gives probabilities)"}};
    card["vocabulary_size"] = info.num_classes;
  } else {
    card["inputs"] = {{"name", "x"},
                      {"dtype", "float32"},
                      {"shape", {nullptr, info.input_width}},
                      {"description", "features, preprocessed as the training data"}};
    card["outputs"] = {{"dtype", "float32"},
                       {"shape", {nullptr, info.num_classes}},
                       {"description", "class logits; argmax is the predicted class"}};
    Json classes = Json::array();
    for (int64_t c = 0; c < info.num_classes; ++c)
      classes.push_back(c < int64_t(info.class_names.size()) ? info.class_names[c]
                                                             : std::to_string(c));
    card["classes"] = classes;
  }
  Json files = Json::array();
  for (const InputFile& f : info.data.files)
    files.push_back({{"role", f.role}, {"path", f.path}, {"sha256", f.sha256}});
  card["training_data"] = {
      {"name", info.data_name},
      {"sha256", info.data.sha256.empty() ? Json(nullptr) : Json(info.data.sha256)},
      {"files", files},
      {"train_samples", info.train_samples},
      {"validation_samples", info.validation_samples},
      {"test_samples", info.test_samples}};
  card["training"] = {{"steps", info.steps},
                      {"world_size", info.world_size},
                      {"global_batch_size", info.global_batch_size},
                      {"precision", info.precision},
                      {"optimizer", info.optimizer}};
  Json metrics = Json::object();
  metrics["split"] = info.evaluation.value("split", "");
  for (const auto& [layout, body] : info.evaluation.items()) {
    if (!body.is_object() || layout == "splits") continue;
    for (const auto& [name, metric] : body.items())
      if (metric.is_object() && metric.contains("value")) metrics[name] = metric["value"];
  }
  card["metrics"] = metrics;
  return card;
}

}  // namespace trainrun
