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
      return true;
  }
  return false;
}

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
  }
  return "unknown";
}

}  // namespace mesh
