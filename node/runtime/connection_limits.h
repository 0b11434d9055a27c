// What one client connection may hold at once: requests waiting for an
// answer, and among them `wait` requests (which are held until their tasks
// finish). A client over its limits gets `overloaded` for the request at
// once, and other connections are not slowed: each is counted on its own.
// (Replies queued for a slow reader are bounded by the socket's high-water
// mark, zmq_options.h.)
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "protocol/result.h"

namespace mesh {

struct ConnectionLimitConfig {
  uint32_t requests_in_flight = 1000;
  uint32_t waits_held = 100;
};

class ConnectionLimits {
 public:
  explicit ConnectionLimits(ConnectionLimitConfig config) : config_(config) {}

  // Counts the request in, or refuses it with kOverloaded naming the limit.
  Status admit(const std::string& connection, bool is_wait);
  // Its answer went out.
  void answered(const std::string& connection, bool was_wait);
  // Connections holding at least one request.
  size_t connections() const { return held_.size(); }

 private:
  struct Held {
    uint32_t requests = 0;
    uint32_t waits = 0;
  };
  ConnectionLimitConfig config_;
  std::unordered_map<std::string, Held> held_;
};

}  // namespace mesh
