// Where a loop turn's output goes, as interfaces: the driver plugs in
// ZeroMQ and the executor, the tests plug in recorders, so the order in
// which a turn's output leaves (node/runtime/turn_output.h) is testable.
#pragma once

#include <string>

#include "node/core/input.h"
#include "protocol/peer_messages.h"

namespace mesh {

// Answers to clients, on the socket their requests came in on.
class ReplyOutlet {
 public:
  virtual ~ReplyOutlet() = default;
  virtual void send(const std::string& client, const std::string& envelope, const std::string& body) = 0;
};

// Messages to other nodes.
class PeerOutlet {
 public:
  virtual ~PeerOutlet() = default;
  // False when the message was dropped (peer unreachable or slow).
  virtual bool send(const std::string& address, const std::string& envelope, const std::string& body) = 0;
  // Closes the connection to `address`; false when there was none.
  virtual bool disconnect(const std::string& address) = 0;
};

// The executor's slots.
class RunOutlet {
 public:
  virtual ~RunOutlet() = default;
  virtual void start(RunTask run) = 0;
  virtual void abort(const RunRef& run) = 0;
};

}  // namespace mesh
