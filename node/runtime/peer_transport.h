// Outbound messages to other nodes: one ZeroMQ DEALER per peer address,
// connected on first use (Zyre's layout: every node binds one ROUTER for
// everything inbound and dials each peer it talks to). Sends never block: a
// full queue (a dead or slow peer) drops the message, which SWIM treats as
// loss.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "node/runtime/outlets.h"
#include "node/runtime/zmq_options.h"

namespace mesh {

class PeerTransport final : public PeerOutlet {
 public:
  // With `curve`, every connection is CURVE-encrypted and proves this node's key.
  explicit PeerTransport(std::optional<CurveClientKeys> curve = std::nullopt);
  ~PeerTransport() override;

  // Returns false when the message was dropped (peer unreachable or slow).
  bool send(const std::string& address, const std::string& envelope, const std::string& body) override;
  // Closes the connection to `address`, dropping what is still queued for
  // it; false when there was none.
  bool disconnect(const std::string& address) override;
  size_t peers() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mesh
