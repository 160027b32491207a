// model/model_card.json: what a registry shows of a model (inputs, outputs, classes, data,
// metrics).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pipeline/lineage.h"

namespace trainrun {

struct ModelCardInfo {
  std::string run, model_name;           // the run's name, model.name
  bool tokens = false;                   // (B, T) token ids in, (B, T, vocab) logits out
  int64_t input_width = 0;               // features per sample, or tokens per window
  int64_t num_classes = 0;               // classes, or the vocabulary
  std::vector<std::string> class_names;  // empty: "0", "1", ... (classification only)
  std::string data_name;                 // data.name
  DataDigest data;
  int64_t train_samples = 0, validation_samples = 0, test_samples = 0;
  int64_t steps = 0, world_size = 0, global_batch_size = 0;
  std::string precision, optimizer;
  nlohmann::ordered_json evaluation;  // the evaluation.json document
};

// The model card: inputs and outputs (shapes, dtypes, meaning), classes, training data (name,
// files and digests, split sizes), training (steps, world size, batch, precision, optimizer),
// and metrics: every {"value"} of evaluation.json's top level (the split it names) flattened
// to name -> value, e.g. "accuracy": 0.97.
nlohmann::ordered_json modelCard(const ModelCardInfo& info);

}  // namespace trainrun
