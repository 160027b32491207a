// Every environment variable trainrun reads or sets, named once.
#pragma once

namespace trainrun::env {

// torchrun's per-rank contract, set by the launcher for every worker.
inline constexpr const char* kRank = "RANK";                        // global rank, 0..WORLD_SIZE-1
inline constexpr const char* kLocalRank = "LOCAL_RANK";             // rank within this node
inline constexpr const char* kWorldSize = "WORLD_SIZE";             // number of ranks in the job
inline constexpr const char* kLocalWorldSize = "LOCAL_WORLD_SIZE";  // ranks on this node
inline constexpr const char* kMasterAddr = "MASTER_ADDR";           // rendezvous store host
inline constexpr const char* kMasterPort = "MASTER_PORT";           // rendezvous store port
inline constexpr const char* kGroupRank = "GROUP_RANK";             // node index (torchrun name)
inline constexpr const char* kNodeRank = "NODE_RANK";               // node index (alias)
// Tells PyTorch's env:// rendezvous that the launcher already hosts the store (torchrun name).
inline constexpr const char* kUseAgentStore = "TORCHELASTIC_USE_AGENT_STORE";
// How many times the job has been restarted; PyTorch prefixes its store keys with it.
inline constexpr const char* kRestartCount = "TORCHELASTIC_RESTART_COUNT";
// Threads per rank for intra-op parallelism; when unset the launcher sets cores / local ranks.
inline constexpr const char* kOmpNumThreads = "OMP_NUM_THREADS";
// SageMaker training job name; survives managed-spot restarts, so it names the run.
inline constexpr const char* kTrainingJobName = "TRAINING_JOB_NAME";
// Directory holding data files such as digits.csv.gz when data.path is not set.
inline constexpr const char* kDataDir = "TRAINRUN_DATA_DIR";
// Network interface Gloo binds for cross-node traffic (PyTorch name).
inline constexpr const char* kGlooSocketIfname = "GLOO_SOCKET_IFNAME";
// Path of the worker binary the launcher runs for a CONFIG (default: next to `trainrun`).
inline constexpr const char* kWorkerBin = "TRAINRUN_WORKER";

}  // namespace trainrun::env
