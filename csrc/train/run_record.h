// RunRecord: what a run's log lines and output files say about it.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "amp/precision.h"
#include "data/data_digest.h"
#include "train/device_report.h"

namespace trainrun {

struct RunRecord {
  std::string run_name;
  std::string config_path;   // the config file as given; its digest goes in lineage.json
  std::string output_dir;    // metrics.json, evaluation.json, lineage.json, ...
  std::string model_dir;     // model.pt, config.yaml, model_card.json
  std::string resumed_from;  // the checkpoint the run started from; empty: none
  DataDigest data;           // the input files' SHA-256
  int world_size = 1;
  int64_t total_steps = 0;
  int64_t start_step = 0;  // > 0 after a resume
  Precision precision = Precision::kFp32;
  torch::Device device{torch::kCPU};
  DeviceReport device_report;
};

}  // namespace trainrun
