// Socket options every meshd ZeroMQ socket shares: never linger at close,
// refuse frames over the protocol's limit, and bound the queues; and the
// CURVE keys of a connecting socket.
#pragma once

#include <zmq.hpp>

#include "node/runtime/curve_keys.h"

#include "protocol/limits.h"

namespace mesh {

inline void apply_common_options(zmq::socket_t& socket, int queue_messages) {
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(limits::kMaxFrameBytes));
  socket.set(zmq::sockopt::sndhwm, queue_messages);
  socket.set(zmq::sockopt::rcvhwm, queue_messages);
}

inline void apply_curve_client(zmq::socket_t& socket, const CurveClientKeys& keys) {
  socket.set(zmq::sockopt::curve_serverkey, keys.server_public_key);
  socket.set(zmq::sockopt::curve_publickey, keys.public_key);
  socket.set(zmq::sockopt::curve_secretkey, keys.secret_key);
}

}  // namespace mesh
