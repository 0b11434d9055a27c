// The node's client endpoint: one ZeroMQ ROUTER socket driven by the Asio
// loop. Inbound messages arrive as (peer identity, frames); replies go back
// to a peer identity. ZMQ_FD is edge-triggered, so the server drains until
// ZMQ_EVENTS says nothing is left, and re-checks after every send.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "node/runtime/outlets.h"

namespace boost::asio {
class io_context;
}

namespace mesh {

class ZmqServer final : public ReplyOutlet {
 public:
  using OnMessage = std::function<void(const std::string& peer, std::vector<std::string> frames)>;

  // Binds `endpoint` (tcp://host:0 picks a free port). Throws
  // std::runtime_error with ZeroMQ's message when binding fails.
  ZmqServer(boost::asio::io_context& io, const std::string& endpoint, OnMessage on_message);
  ~ZmqServer() override;

  // The endpoint actually bound, with the chosen port.
  std::string bound_endpoint() const;
  void send(const std::string& peer, const std::string& envelope, const std::string& body) override;
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mesh
