#include "protocol/message_kind.h"

namespace mesh {

bool is_known_kind(uint16_t kind) {
  switch (static_cast<MessageKind>(kind)) {
    case MessageKind::kErrorReply:
    case MessageKind::kSubmitRequest:
    case MessageKind::kSubmitReply:
    case MessageKind::kGetRequest:
    case MessageKind::kGetReply:
    case MessageKind::kWaitRequest:
    case MessageKind::kWaitReply:
    case MessageKind::kCancelRequest:
    case MessageKind::kCancelReply:
    case MessageKind::kListRequest:
    case MessageKind::kListReply:
    case MessageKind::kStatsRequest:
    case MessageKind::kStatsReply:
    case MessageKind::kMembersRequest:
    case MessageKind::kMembersReply:
    case MessageKind::kPartitionsRequest:
    case MessageKind::kPartitionsReply:
    case MessageKind::kStealsRequest:
    case MessageKind::kStealsReply:
    case MessageKind::kTxnsRequest:
    case MessageKind::kTxnsReply:
    case MessageKind::kEventsRequest:
    case MessageKind::kEventsReply:
    case MessageKind::kDrainRequest:
    case MessageKind::kDrainReply:
    case MessageKind::kRemoveReplicaRequest:
    case MessageKind::kRemoveReplicaReply:
    case MessageKind::kRetryRequest:
    case MessageKind::kRetryReply:
      return true;
    case MessageKind::kPing:
    case MessageKind::kPingReq:
    case MessageKind::kAck:
    case MessageKind::kSync:
    case MessageKind::kStealRequest:
    case MessageKind::kStealGrant:
    case MessageKind::kLeaseRenewal:
    case MessageKind::kStolenResult:
    case MessageKind::kStolenResultAck:
    case MessageKind::kLeaderHints:
    case MessageKind::kRaftBatch:
    case MessageKind::kRouteSubmit:
    case MessageKind::kRouteSubmitReply:
    case MessageKind::kFanout:
    case MessageKind::kFanoutReply:
    case MessageKind::kTxnRequest:
    case MessageKind::kTxnReply:
      return true;
  }
  return false;
}

bool is_peer_kind(uint16_t kind) { return kind >= static_cast<uint16_t>(MessageKind::kPing) && is_known_kind(kind); }

std::string_view kind_name(MessageKind kind) {
  switch (kind) {
    case MessageKind::kErrorReply: return "error_reply";
    case MessageKind::kSubmitRequest: return "submit";
    case MessageKind::kSubmitReply: return "submit_reply";
    case MessageKind::kGetRequest: return "get";
    case MessageKind::kGetReply: return "get_reply";
    case MessageKind::kWaitRequest: return "wait";
    case MessageKind::kWaitReply: return "wait_reply";
    case MessageKind::kCancelRequest: return "cancel";
    case MessageKind::kCancelReply: return "cancel_reply";
    case MessageKind::kListRequest: return "list";
    case MessageKind::kListReply: return "list_reply";
    case MessageKind::kStatsRequest: return "stats";
    case MessageKind::kStatsReply: return "stats_reply";
    case MessageKind::kMembersRequest: return "members";
    case MessageKind::kMembersReply: return "members_reply";
    case MessageKind::kPartitionsRequest: return "partitions";
    case MessageKind::kPartitionsReply: return "partitions_reply";
    case MessageKind::kStealsRequest: return "steals";
    case MessageKind::kStealsReply: return "steals_reply";
    case MessageKind::kTxnsRequest: return "txns";
    case MessageKind::kTxnsReply: return "txns_reply";
    case MessageKind::kEventsRequest: return "events";
    case MessageKind::kEventsReply: return "events_reply";
    case MessageKind::kDrainRequest: return "drain";
    case MessageKind::kDrainReply: return "drain_reply";
    case MessageKind::kRemoveReplicaRequest: return "remove_replica";
    case MessageKind::kRemoveReplicaReply: return "remove_replica_reply";
    case MessageKind::kRetryRequest: return "retry";
    case MessageKind::kRetryReply: return "retry_reply";
    case MessageKind::kPing: return "ping";
    case MessageKind::kPingReq: return "ping_req";
    case MessageKind::kAck: return "ack";
    case MessageKind::kSync: return "sync";
    case MessageKind::kStealRequest: return "steal_request";
    case MessageKind::kStealGrant: return "steal_grant";
    case MessageKind::kLeaseRenewal: return "lease_renewal";
    case MessageKind::kStolenResult: return "stolen_result";
    case MessageKind::kStolenResultAck: return "stolen_result_ack";
    case MessageKind::kLeaderHints: return "leader_hints";
    case MessageKind::kRaftBatch: return "raft_batch";
    case MessageKind::kRouteSubmit: return "route_submit";
    case MessageKind::kRouteSubmitReply: return "route_submit_reply";
    case MessageKind::kTxnRequest: return "txn_request";
    case MessageKind::kTxnReply: return "txn_reply";
    case MessageKind::kFanout: return "fanout";
    case MessageKind::kFanoutReply: return "fanout_reply";
  }
  return "unknown";
}

}  // namespace mesh
