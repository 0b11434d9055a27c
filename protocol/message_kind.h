// Wire message ids. Ids are never reused; new kinds are appended.
// docs/PROTOCOL.md gives the body of each.
#pragma once

#include <cstdint>
#include <string_view>

namespace mesh {

// The protocol version this build speaks. A request with a newer version is
// answered with kUnsupportedVersion; older versions are decoded because
// fields are only ever appended.
inline constexpr uint16_t kProtocolVersion = 1;

enum class MessageKind : uint16_t {
  kErrorReply = 1,
  kSubmitRequest = 10,
  kSubmitReply = 11,
  kGetRequest = 12,
  kGetReply = 13,
  kWaitRequest = 14,
  kWaitReply = 15,
  kCancelRequest = 16,
  kCancelReply = 17,
  kListRequest = 18,
  kListReply = 19,
  kStatsRequest = 20,
  kStatsReply = 21,
  kMembersRequest = 22,
  kMembersReply = 23,
  kPartitionsRequest = 24,
  kPartitionsReply = 25,
  kStealsRequest = 26,
  kStealsReply = 27,
  kRetryRequest = 28,
  kRetryReply = 29,
  kTxnsRequest = 30,
  kTxnsReply = 31,
  kEventsRequest = 32,
  kEventsReply = 33,
  kDrainRequest = 34,
  kDrainReply = 35,
  kRemoveReplicaRequest = 36,
  kRemoveReplicaReply = 37,
  // Node to node (no reply expected on the same request id).
  kPing = 100,
  kPingReq = 101,
  kAck = 102,
  kSync = 103,
  kStealRequest = 110,
  kStealGrant = 111,
  kLeaseRenewal = 112,
  kStolenResult = 113,
  kStolenResultAck = 114,
  kLeaderHints = 115,
  kRaftBatch = 120,
  kRouteSubmit = 130,
  kRouteSubmitReply = 131,
  kFanout = 132,
  kFanoutReply = 133,
  kTxnRequest = 140,
  kTxnReply = 141,
};

bool is_known_kind(uint16_t kind);
bool is_peer_kind(uint16_t kind);
std::string_view kind_name(MessageKind kind);

}  // namespace mesh
