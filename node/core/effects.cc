#include "node/core/effects.h"

#include <algorithm>
#include <iterator>
#include <map>

#include "protocol/limits.h"

namespace mesh {

bool may_leave_before_sync(const PeerMessage& message) {
  if (const auto* txn = std::get_if<TxnRequest>(&message)) {
    return txn->step == TxnStep::kPrepare || txn->step == TxnStep::kStage;
  }
  // A leader counts itself toward a commit only at an acknowledgement,
  // which comes in a later turn, after this one's sync: its appends may go
  // first, and the followers' syncs overlap its own.
  if (const auto* raft = std::get_if<RaftBatch>(&message)) {
    return std::all_of(raft->messages.begin(), raft->messages.end(), sent_by_leader);
  }
  return std::holds_alternative<RouteSubmit>(message) || std::holds_alternative<Fanout>(message) ||
         std::holds_alternative<Ping>(message) || std::holds_alternative<PingReq>(message) ||
         std::holds_alternative<Ack>(message);
}

bool may_leave_before_sync(const OutgoingPeerMessage& send) {
  return !send.after_sync && may_leave_before_sync(send.message);
}

void merge_raft_batches(std::vector<OutgoingPeerMessage>& sends) {
  struct Open {
    size_t index;  // of the batch being filled
    size_t bytes;
  };
  std::map<std::string, Open> open;  // address -> its batch being filled
  std::vector<OutgoingPeerMessage> merged;
  merged.reserve(sends.size());
  for (auto& send : sends) {
    auto* batch = std::get_if<RaftBatch>(&send.message);
    if (batch == nullptr) {
      merged.push_back(std::move(send));
      continue;
    }
    size_t bytes = 0;
    for (const auto& m : batch->messages) bytes += encoded_size_bound(m);
    auto it = open.find(send.to_address);
    if (it != open.end()) {
      auto& into = std::get<RaftBatch>(merged[it->second.index].message);
      bool fits = it->second.bytes + bytes <= limits::kRaftBatchBytes &&
                  into.messages.size() + batch->messages.size() <= limits::kMaxRaftMessages;
      if (fits) {
        std::move(batch->messages.begin(), batch->messages.end(), std::back_inserter(into.messages));
        it->second.bytes += bytes;
        continue;
      }
    }
    open[send.to_address] = Open{merged.size(), bytes};
    merged.push_back(std::move(send));
  }
  sends = std::move(merged);
}

}  // namespace mesh
