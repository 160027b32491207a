// Every key trainrun writes to the rendezvous store, in one place (as checkpoint/layout.h names
// the checkpoint objects). A Store may add its own prefix (the launcher's per-job prefix, a
// rank's restart); the keys below are relative to it.
#pragma once

#include <cstdint>
#include <string>

namespace trainrun {

// ---- Node rendezvous (launch/node_rendezvous.cpp) ----------------------------------------------
// "rdzv/<run id>/": what a node reads before its token is checked (the verifier, refusals).
std::string rdzvOpenPrefix(const std::string& run_id);
// "rdzv/<run id>/<token digest>/": everything else of the run; a wrong token sees none of it.
std::string rdzvPrefix(const std::string& run_id, const std::string& token_digest);
// Under rdzvOpenPrefix: the token's verifier; how many nodes were refused, and each one's address.
inline constexpr const char* kVerifierKey = "verifier";
inline constexpr const char* kRefusedKey = "refused";
std::string refusedKey(int64_t nth);  // 1-based
// Under rdzvPrefix: node ranks handed out by arrival; a node rank's claim; a node's address
// and ranks; the job formed (the ranks per node); the elastic leader's lease; heartbeats;
// nodes done or leaving; the first failure and how many nodes reported one.
inline constexpr const char* kArrivalsKey = "arrivals";
inline constexpr const char* kFormedKey = "formed";
inline constexpr const char* kLeaderKey = "leader";
inline constexpr const char* kFailureKey = "failure";
inline constexpr const char* kFailuresKey = "failures";
// The ranks' own keys (every key below this section) live under rdzvPrefix + kRanksPrefix.
inline constexpr const char* kRanksPrefix = "ranks/";
std::string claimKey(int node);
std::string nodeKey(int node);
std::string heartbeatKey(int node);
std::string doneKey(int node);
std::string leftKey(int node);

// ---- Elastic generations (store/generation.h, distributed/elastic.cpp) -------------------------
// The generation counter; ranks count in per generation; which generation a rank (by node id
// and local rank, which it keeps while its global rank changes) is in; why a generation ended;
// which nodes form it; what re-forming into it cost ("step world_size lost_steps recovery_ms").
inline constexpr const char* kGenerationKey = "elastic/generation";
std::string arrivedKey(int64_t generation);
std::string memberGenerationKey(int node_id, int local_rank);
std::string endedKey(int64_t generation);
std::string planKey(int64_t generation);
std::string recoveryKey(int64_t generation);

// ---- The ranks' job ---------------------------------------------------------------------------
// One communicator's keys: per launcher restart and generation; the backend adds its name
// ("gloo/", "shm/", "hierarchical/", "nccl/") and its library its own keys below that.
std::string communicatorPrefix(int restart, const std::string& generation);
// dist.backend auto's choice for a shape of nodes x ranks per node (distributed/init.cpp).
std::string autoBackendKey(int nodes, int ranks_per_node);
// Rank 0's run name, config and input data digests, which every rank's must equal
// (train/same_job.cpp).
inline constexpr const char* kSameJobKey = "job/rank0";
// A node's copy of table data is fetched: set by its first rank (train/trainer.cpp).
std::string tableFetchedKey(int node_first_rank);
// A preemption's exchange in restart `restart` (preemption/preemption.cpp): "seen/<rank>", "plan".
std::string preemptKey(const std::string& restart, const std::string& what);
// Checkpoint saves (checkpoint/checkpoint_manager.cpp): a rank's shard status of a step, a
// rank's storage probe result, the probe's verdict.
std::string shardStatusKey(const std::string& run, int64_t step, int rank);
std::string probeStatusKey(const std::string& run, int rank);
std::string probeVerdictKey(const std::string& run);

// ---- Hang reports between nodes (hang/hang_exchange.cpp) ---------------------------------------
// The newest request ("<id> <node> <unix ms> <why>"); each node's answer; the verdict.
inline constexpr const char* kHangRequestKey = "hang/request";
std::string hangAnswerKey(int64_t id, int node);
std::string hangVerdictKey(int64_t id);

}  // namespace trainrun
