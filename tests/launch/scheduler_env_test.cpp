// Scheduler detection: SageMaker, AWS Batch, Kubeflow and Slurm environments, and conflicts.
#include "launch/scheduler_env.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "core/error.h"
#include "support/temp_dir.h"

namespace trainrun::launch {
namespace {

using Vars = std::map<std::string, std::string>;

SchedulerJob detect(const Vars& vars, const std::string& root = "/nonexistent-root") {
  return detectScheduler(
      [&](const std::string& name) {
        auto it = vars.find(name);
        return it == vars.end() ? std::string() : it->second;
      },
      root);
}

// A fake filesystem root (in `tmp`) holding SageMaker's resource config.
std::string sagemakerRoot(const trainrun::testing::TempDir& tmp, const std::string& json) {
  namespace fs = std::filesystem;
  const fs::path root = tmp.path();
  fs::create_directories(root / "opt/ml/input/config");
  std::ofstream(root / "opt/ml/input/config/resourceconfig.json") << json;
  return root.string();
}

TEST(SchedulerEnv, NothingDetectedWithoutVariables) { EXPECT_EQ(detect({}).scheduler, ""); }

TEST(SchedulerEnv, SageMakerNodeRankIsTheIndexInSortedHosts) {
  const trainrun::testing::TempDir tmp;
  const std::string root =
      sagemakerRoot(tmp, R"({"current_host":"algo-3","hosts":["algo-2","algo-3","algo-1"],)"
                         R"("network_interface_name":"eth1"})");
  SchedulerJob job = detect({{"TRAINING_JOB_NAME", "job-7"}}, root);
  EXPECT_EQ(job.scheduler, "sagemaker");
  EXPECT_EQ(job.nnodes, 3);
  EXPECT_EQ(job.node_rank, 2);
  EXPECT_EQ(job.master_addr, "algo-1");
  EXPECT_EQ(job.interface, "eth1");
  EXPECT_EQ(job.job_id, "job-7");
}

TEST(SchedulerEnv, SageMakerToolkitVariablesWinOverTheFile) {
  const trainrun::testing::TempDir tmp;
  const std::string root = sagemakerRoot(
      tmp, R"({"current_host":"algo-1","hosts":["algo-1"],"network_interface_name":"eth0"})");
  SchedulerJob job = detect(
      {{"SM_HOSTS", R"(["algo-2","algo-1"])"}, {"SM_CURRENT_HOST", "algo-2"}, {"SM_NUM_GPUS", "8"}},
      root);
  EXPECT_EQ(job.scheduler, "sagemaker");
  EXPECT_EQ(job.nnodes, 2);
  EXPECT_EQ(job.node_rank, 1);
  EXPECT_EQ(job.master_addr, "algo-1");
  EXPECT_EQ(job.interface, "eth0");  // what the variables do not say still comes from the file
  EXPECT_EQ(job.nproc_per_node, 8);
  // Without the file the variables alone describe the job; 0 GPUs keeps the default ranks.
  job =
      detect({{"SM_HOSTS", R"(["algo-1"])"}, {"SM_CURRENT_HOST", "algo-1"}, {"SM_NUM_GPUS", "0"}});
  EXPECT_EQ(job.scheduler, "sagemaker");
  EXPECT_EQ(job.nnodes, 1);
  EXPECT_EQ(job.nproc_per_node, 0);
  EXPECT_THROW(detect({{"SM_HOSTS", "algo-1"}, {"SM_CURRENT_HOST", "algo-1"}}), ConfigError);
}

TEST(SchedulerEnv, SageMakerMalformedConfigIsOneLine) {
  const trainrun::testing::TempDir tmp;
  const std::string root = sagemakerRoot(tmp, R"({"hosts":[]})");
  try {
    detect({}, root);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("resourceconfig.json"), std::string::npos);
  }
}

TEST(SchedulerEnv, AwsBatchMainNodeIsNodeZero) {
  Vars worker{{"AWS_BATCH_JOB_NUM_NODES", "4"},
              {"AWS_BATCH_JOB_NODE_INDEX", "1"},
              {"AWS_BATCH_JOB_MAIN_NODE_INDEX", "2"},
              {"AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS", "10.0.0.9"},
              {"AWS_BATCH_JOB_ID", "abc-123#1"}};
  SchedulerJob job = detect(worker);
  EXPECT_EQ(job.scheduler, "aws-batch");
  EXPECT_EQ(job.nnodes, 4);
  EXPECT_EQ(job.node_rank, 3);  // (1 - 2 + 4) % 4
  EXPECT_EQ(job.master_addr, "10.0.0.9");
  EXPECT_EQ(job.job_id, "abc-123");
  // The main node is not told its own address.
  SchedulerJob main = detect({{"AWS_BATCH_JOB_NUM_NODES", "4"},
                              {"AWS_BATCH_JOB_NODE_INDEX", "2"},
                              {"AWS_BATCH_JOB_MAIN_NODE_INDEX", "2"}});
  EXPECT_EQ(main.node_rank, 0);
  EXPECT_EQ(main.master_addr, "");
  EXPECT_THROW(detect({{"AWS_BATCH_JOB_NUM_NODES", "4"}, {"AWS_BATCH_JOB_NODE_INDEX", "7"}}),
               ConfigError);
  // A retry keeps the job id: its run id names the attempt (an etcd rendezvous keeps the last
  // attempt's keys).
  worker["AWS_BATCH_JOB_ATTEMPT"] = "1";
  EXPECT_EQ(detect(worker).job_id, "abc-123");
  worker["AWS_BATCH_JOB_ATTEMPT"] = "3";
  EXPECT_EQ(detect(worker).job_id, "abc-123-attempt3");
}

// The platform (no SageMaker toolkit in the image) sets no SM_NUM_GPUS: one rank per device
// file, as --nproc-per-node gpu counts them; SM_NUM_GPUS wins when the toolkit set it.
TEST(SchedulerEnv, SageMakerRanksPerHostAreTheHostsGpusWithoutTheToolkit) {
  namespace fs = std::filesystem;
  const trainrun::testing::TempDir tmp;
  const std::string root = sagemakerRoot(tmp, R"({"current_host":"algo-1","hosts":["algo-1"]})");
  EXPECT_EQ(detect({}, root).nproc_per_node, 0);  // no GPU: the default, one rank (auto)
  fs::create_directories(fs::path(root) / "dev");
  for (int i = 0; i < 4; ++i)
    std::ofstream(fs::path(root) / "dev" / ("nvidia" + std::to_string(i)));
  EXPECT_EQ(detect({}, root).nproc_per_node, 4);
  EXPECT_EQ(detect({{"SM_NUM_GPUS", "2"}}, root).nproc_per_node, 2);
  EXPECT_EQ(detect({{"SM_NUM_GPUS", "0"}}, root).nproc_per_node, 0);
}

// training-operator 1.7+: PET_NNODES, PET_NODE_RANK, PET_NPROC_PER_NODE and a plain
// MASTER_ADDR/MASTER_PORT; PET_MASTER_ADDR wins when both are there.
TEST(SchedulerEnv, KubeflowPetVariablesWithPlainMasterAddr) {
  Vars vars = {{"PET_NNODES", "2"},
               {"PET_NODE_RANK", "1"},
               {"PET_NPROC_PER_NODE", "4"},
               {"MASTER_ADDR", "job-master-0"},
               {"MASTER_PORT", "23456"}};
  SchedulerJob job = detect(vars);
  EXPECT_EQ(job.scheduler, "kubeflow");
  EXPECT_EQ(job.nnodes, 2);
  EXPECT_EQ(job.node_rank, 1);
  EXPECT_EQ(job.master_addr, "job-master-0");
  EXPECT_EQ(job.master_from, "MASTER_ADDR");
  EXPECT_EQ(job.master_port, 23456);
  vars["PET_MASTER_ADDR"] = "pet-master";
  vars["PET_MASTER_PORT"] = "29400";
  job = detect(vars);
  EXPECT_EQ(job.master_addr, "pet-master");
  EXPECT_EQ(job.master_from, "PET_MASTER_ADDR");
  EXPECT_EQ(job.master_port, 29400);
}

TEST(SchedulerEnv, KubeflowElasticAndClassic) {
  SchedulerJob pet = detect({{"PET_NNODES", "2"},
                             {"PET_NODE_RANK", "1"},
                             {"PET_MASTER_ADDR", "job-master-0"},
                             {"PET_MASTER_PORT", "23456"},
                             {"PET_NPROC_PER_NODE", "8"}});
  EXPECT_EQ(pet.scheduler, "kubeflow");
  EXPECT_EQ(pet.nnodes, 2);
  EXPECT_EQ(pet.node_rank, 1);
  EXPECT_EQ(pet.master_addr, "job-master-0");
  EXPECT_EQ(pet.master_port, 23456);
  EXPECT_EQ(pet.nproc_per_node, 8);
  SchedulerJob classic =
      detect({{"MASTER_ADDR", "m0"}, {"MASTER_PORT", "23456"}, {"WORLD_SIZE", "3"}, {"RANK", "2"}});
  EXPECT_EQ(classic.scheduler, "kubeflow");
  EXPECT_EQ(classic.nnodes, 3);
  EXPECT_EQ(classic.node_rank, 2);
  EXPECT_EQ(classic.master_addr, "m0");
}

TEST(SchedulerEnv, SlurmFirstHostOfTheCompressedList) {
  SchedulerJob job = detect({{"SLURM_NNODES", "4"},
                             {"SLURM_NODEID", "3"},
                             {"SLURM_JOB_NODELIST", "gpu[07-09,12],cpu1"},
                             {"SLURM_JOB_ID", "991"}});
  EXPECT_EQ(job.scheduler, "slurm");
  EXPECT_EQ(job.nnodes, 4);
  EXPECT_EQ(job.node_rank, 3);
  EXPECT_EQ(job.master_addr, "gpu07");
  EXPECT_EQ(job.job_id, "991");
  EXPECT_EQ(detect({{"SLURM_NNODES", "4"},
                    {"SLURM_NODEID", "3"},
                    {"SLURM_JOB_NODELIST", "gpu[07-09,12],cpu1"},
                    {"SLURM_JOB_ID", "991"},
                    {"SLURM_RESTART_COUNT", "2"}})
                .job_id,
            "991-restart2");  // requeued: another run
  EXPECT_EQ(firstSlurmHost("node1,node2"), "node1");
  EXPECT_EQ(firstSlurmHost("a[3]"), "a3");
  EXPECT_EQ(firstSlurmHost("rack[1-2]-n[5-6]"), "rack1-n[5-6]");
  EXPECT_THROW(firstSlurmHost("[1-3]"), ConfigError);
}

TEST(SchedulerEnv, TwoSchedulersThatDisagreeAreOneLineNamingBoth) {
  try {
    detect({{"SLURM_NNODES", "2"},
            {"SLURM_NODEID", "0"},
            {"SLURM_JOB_NODELIST", "n[1-2]"},
            {"PET_NNODES", "4"},
            {"PET_NODE_RANK", "0"}});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("kubeflow"), std::string::npos) << msg;
    EXPECT_NE(msg.find("slurm"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos);
  }
}

}  // namespace
}  // namespace trainrun::launch
