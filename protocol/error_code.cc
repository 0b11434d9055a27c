#include "protocol/error_code.h"

namespace mesh {

std::string_view error_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return "ok";
    case ErrorCode::kMalformed: return "malformed";
    case ErrorCode::kUnsupportedVersion: return "unsupported_version";
    case ErrorCode::kUnknownMessageType: return "unknown_message_type";
    case ErrorCode::kTooLarge: return "too_large";
    case ErrorCode::kUnknownHandler: return "unknown_handler";
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kOverloaded: return "overloaded";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kConflict: return "conflict";
    case ErrorCode::kShuttingDown: return "shutting_down";
    case ErrorCode::kStorageError: return "storage_error";
    case ErrorCode::kStaleAttempt: return "stale_attempt";
    case ErrorCode::kAlreadyTerminal: return "already_terminal";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kNotLeader: return "not_leader";
    case ErrorCode::kBusy: return "busy";
    case ErrorCode::kHandlerNotAllowed: return "handler_not_allowed";
    case ErrorCode::kStorageFull: return "storage_full";
    case ErrorCode::kForbidden: return "forbidden";
    case ErrorCode::kAborted: return "aborted";
  }
  return "unknown_error";
}

}  // namespace mesh
