#include "protocol/member_state.h"
#include "protocol/peer_messages.h"

namespace mesh {

const char* member_state_name(MemberState s) {
  switch (s) {
    case MemberState::kAlive: return "alive";
    case MemberState::kSuspect: return "suspect";
    case MemberState::kDead: return "dead";
    case MemberState::kLeft: return "left";
  }
  return "unknown";
}

const char* txn_step_name(TxnStep step) {
  switch (step) {
    case TxnStep::kPrepare: return "prepare";
    case TxnStep::kDecide: return "decide";
    case TxnStep::kResolve: return "resolve";
    case TxnStep::kInquire: return "inquire";
    case TxnStep::kStage: return "stage";
    case TxnStep::kFence: return "fence";
  }
  return "unknown";
}

namespace {

std::string node_of_replica(const std::string& replica_id) { return replica_id.substr(0, replica_id.find('#')); }

struct ClaimedIds {
  std::vector<std::string> operator()(const Ping& m) const { return {m.from_id}; }
  std::vector<std::string> operator()(const PingReq& m) const { return {m.from_id}; }
  std::vector<std::string> operator()(const Ack& m) const { return {m.from_id}; }
  std::vector<std::string> operator()(const Sync& m) const { return {m.from_id}; }
  std::vector<std::string> operator()(const StealRequest& m) const { return {m.thief_id}; }
  std::vector<std::string> operator()(const StealGrant& m) const { return {m.victim_id}; }
  std::vector<std::string> operator()(const LeaseRenewal& m) const { return {m.thief_id}; }
  std::vector<std::string> operator()(const StolenResult& m) const { return {m.thief_id}; }
  std::vector<std::string> operator()(const FanoutReply& m) const { return {m.from_id}; }
  std::vector<std::string> operator()(const RaftBatch& m) const {
    std::vector<std::string> ids = {m.from_node};
    for (const auto& message : m.messages) {
      ids.push_back(node_of_replica(std::visit([](const auto& x) -> const std::string& { return x.from; }, message)));
    }
    return ids;
  }
  // The rest name no sender: their answers go to addresses.
  template <typename M>
  std::vector<std::string> operator()(const M&) const {
    return {};
  }
};

}  // namespace

std::vector<std::string> claimed_node_ids(const PeerMessage& message) { return std::visit(ClaimedIds{}, message); }

}  // namespace mesh
