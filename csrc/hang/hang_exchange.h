// Hang reports across nodes: the node that sees a hang asks the others for their ranks' evidence.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hang/hang_report.h"
#include "store/store.h"

namespace trainrun::launch {

// One hang, as the store names it: which node asks for the evidence, and why.
struct HangRequest {
  int64_t id = 0;
  int node = 0;
  std::string why;
};

// Through the job's store (keys under its own prefix): the first node whose agent sees a hang
// claims the report, every other node's agent answers with its ranks' evidence, and the
// claiming node prints the one table of the whole job and publishes its verdict, which the
// other nodes repeat. Every call is bounded by the store's deadline; a node that does not
// answer in time is missing from the table (its ranks are then known by no evidence at all).
class HangExchange {
 public:
  // `peers` lists the other nodes that should answer (elastic jobs: the current members), read
  // from `store` when a report is made.
  using Peers = std::function<std::vector<int>(Store& store)>;
  HangExchange(std::unique_ptr<Store> store, int node, Peers peers);
  ~HangExchange();
  HangExchange(const HangExchange&) = delete;
  HangExchange& operator=(const HangExchange&) = delete;

  // Claims the report of a new hang for this node: true, and `*request` is this node's new
  // request; false, and `*request` is the owner's, when another node's request has not been
  // answered by this node yet.
  bool claim(const std::string& why, HangRequest* request);
  // Another node's request this node has not answered yet. Never touches the store: a
  // background thread looks for requests every 0.5 s (a store call stuck on a cut link must
  // not stall the agent's loop, which calls this).
  std::optional<HangRequest> pending();
  // This node's ranks' evidence for request `id`.
  void answer(int64_t id, const std::vector<RankEvidence>& evidence);
  // The peers' answers to this node's request `id`, waiting for each until `deadline`; times
  // are moved onto this host's clock. `missing` gets the nodes that did not answer.
  std::vector<RankEvidence> collect(int64_t id, std::chrono::steady_clock::time_point deadline,
                                    std::vector<int>* missing);
  void publishVerdict(int64_t id, const std::string& verdict);
  // The verdict of request `id`, waiting for it until `deadline`; "" if none came.
  std::string verdict(int64_t id, std::chrono::steady_clock::time_point deadline);

 private:
  struct Watch;  // what the background thread shares with us (it may outlive us)
  std::shared_ptr<Store> store_;
  int node_;
  Peers peers_;
  std::shared_ptr<Watch> watch_;
};

// One rank's evidence as text and back (the answer's wire format). `offset_ms` is added to
// every timestamp read back (the sender's clock onto the reader's).
std::string formatEvidence(const std::vector<RankEvidence>& evidence, int64_t sent_ms);
std::vector<RankEvidence> parseEvidence(const std::string& text, int64_t received_ms);

}  // namespace trainrun::launch
