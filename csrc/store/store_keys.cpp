// The store's keys: see store_keys.h.
#include "store/store_keys.h"

namespace trainrun {
namespace {

std::string num(int64_t n) { return std::to_string(n); }

}  // namespace

std::string rdzvOpenPrefix(const std::string& run_id) { return "rdzv/" + run_id + "/"; }
std::string rdzvPrefix(const std::string& run_id, const std::string& token_digest) {
  return rdzvOpenPrefix(run_id) + token_digest + "/";
}
std::string refusedKey(int64_t nth) { return std::string(kRefusedKey) + "/" + num(nth); }
std::string claimKey(int node) { return "claims/" + num(node); }
std::string nodeKey(int node) { return "node/" + num(node); }
std::string heartbeatKey(int node) { return "hb/" + num(node); }
std::string doneKey(int node) { return "done/" + num(node); }
std::string leftKey(int node) { return "left/" + num(node); }

std::string arrivedKey(int64_t generation) { return "elastic/" + num(generation) + "/arrived"; }
std::string memberGenerationKey(int node_id, int local_rank) {
  return "elastic/member/" + num(node_id) + "/" + num(local_rank);
}
std::string endedKey(int64_t generation) { return "elastic/" + num(generation) + "/ended"; }
std::string planKey(int64_t generation) { return "elastic/" + num(generation) + "/plan"; }
std::string recoveryKey(int64_t generation) { return "elastic/" + num(generation) + "/recovery"; }

std::string communicatorPrefix(int restart, const std::string& generation) {
  return "restart-" + num(restart) + "/" + generation;
}
std::string autoBackendKey(int nodes, int ranks_per_node) {
  return "dist/auto_backend/" + num(nodes) + "x" + num(ranks_per_node);
}
std::string tableFetchedKey(int node_first_rank) {
  return "table_data_fetched/" + num(node_first_rank);
}
std::string preemptKey(const std::string& restart, const std::string& what) {
  return "preempt/" + restart + "/" + what;
}
std::string shardStatusKey(const std::string& run, int64_t step, int rank) {
  return "ckpt/" + run + "/" + num(step) + "/" + num(rank);
}
std::string probeStatusKey(const std::string& run, int rank) {
  return "ckpt/" + run + "/probe/" + num(rank);
}
std::string probeVerdictKey(const std::string& run) { return "ckpt/" + run + "/probe/verdict"; }

std::string hangAnswerKey(int64_t id, int node) { return "hang/" + num(id) + "/node/" + num(node); }
std::string hangVerdictKey(int64_t id) { return "hang/" + num(id) + "/verdict"; }

}  // namespace trainrun
