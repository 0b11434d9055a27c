#include "node/core/effects.h"

#include <algorithm>

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

}  // namespace mesh
