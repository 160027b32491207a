// The run's outputs: evaluation.json and the model card, model.pt, metrics.json, lineage.json,
// and their upload to output.uri.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "data/dataset.h"
#include "distributed/init.h"
#include "models/model.h"
#include "pipeline/evaluation.h"
#include "train/evaluator.h"
#include "train/run_record.h"

namespace trainrun {

// The final evaluation of every split (`splits`: validation, test if any) as evaluation.json,
// and the model card (model_card.json) that holds it.
void writeEvaluation(const RunRecord& run, const config::JobConfig& config,
                     const TrainEvalSplit& data, const std::vector<EvaluatedSplit>& splits);

// How the training went, for metrics.json.
struct RunResult {
  EvalResult eval;                 // the final pass over the validation split
  std::optional<EvalResult> test;  // the final pass over a test split, if any
  double train_loss = 0;           // the last log window's
  double wall_seconds = 0;         // the whole run's
  std::vector<double> step_ms;     // every step's wall time
};

// model.pt, config.yaml, metrics.json and lineage.json (after model.pt, whose digest it holds),
// and the line naming them. `dist`: elastic jobs add what their membership changes cost.
void writeOutputs(const RunRecord& run, const config::JobConfig& config, const Model& model,
                  const RunResult& result, const DistContext& dist);

// output.uri: model.tar.gz and the run's JSON files, after writeOutputs (pipeline/); a no-op
// without output.uri.
void uploadOutputs(const config::JobConfig& config, const std::string& output_dir,
                   const std::string& model_dir);

}  // namespace trainrun
