// Socket options every meshd ZeroMQ socket shares: never linger at close,
// refuse frames over the protocol's limit, and bound the queues.
#pragma once

#include <zmq.hpp>

#include "protocol/limits.h"

namespace mesh {

inline void apply_common_options(zmq::socket_t& socket, int queue_messages) {
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(limits::kMaxFrameBytes));
  socket.set(zmq::sockopt::sndhwm, queue_messages);
  socket.set(zmq::sockopt::rcvhwm, queue_messages);
}

}  // namespace mesh
