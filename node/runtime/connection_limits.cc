#include "node/runtime/connection_limits.h"

namespace mesh {

Status ConnectionLimits::admit(const std::string& connection, bool is_wait) {
  Held& held = held_[connection];
  if (held.requests >= config_.requests_in_flight) {
    return Status(ErrorCode::kOverloaded, "this connection has " + std::to_string(held.requests) +
                                              " requests in flight, the most one connection may have");
  }
  if (is_wait && held.waits >= config_.waits_held) {
    return Status(ErrorCode::kOverloaded,
                  "this connection holds " + std::to_string(held.waits) + " waits, the most one connection may hold");
  }
  ++held.requests;
  if (is_wait) ++held.waits;
  return Status::Ok();
}

void ConnectionLimits::answered(const std::string& connection, bool was_wait) {
  auto it = held_.find(connection);
  if (it == held_.end()) return;
  if (it->second.requests > 0) --it->second.requests;
  if (was_wait && it->second.waits > 0) --it->second.waits;
  if (it->second.requests == 0) held_.erase(it);
}

}  // namespace mesh
