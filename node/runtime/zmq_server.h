// The node's client endpoint: one ZeroMQ ROUTER socket driven by the Asio
// loop. Inbound messages arrive as (peer identity, frames); replies go back
// to a peer identity. ZMQ_FD is edge-triggered, so the server drains until
// ZMQ_EVENTS says nothing is left, and re-checks after every send.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "node/runtime/outlets.h"

namespace boost::asio {
class io_context;
}

namespace mesh {

// Who may connect. With it, a ZAP handler (on a thread of its own, RFC 27)
// asks `authenticate` about every new connection before it carries a message.
struct ServerSecurity {
  std::string curve_secret_key;  // Z85; empty: plaintext (NULL mechanism)
  // Returns the connection's user id (Principal::user_id), or none to refuse.
  // `public_key` is the client's Z85 key (empty on plaintext); `address` its IP.
  // Called on the ZAP thread: it must only read shared state.
  std::function<std::optional<std::string>(const std::string& public_key, const std::string& address)> authenticate;
};

class ZmqServer final : public ReplyOutlet {
 public:
  // `user_id`: what ZAP said the sender is ("" without security).
  using OnMessage =
      std::function<void(const std::string& peer, const std::string& user_id, std::vector<std::string> frames)>;

  // Binds `endpoint` (tcp://host:0 picks a free port). Throws
  // std::runtime_error with ZeroMQ's message when binding fails.
  ZmqServer(boost::asio::io_context& io, const std::string& endpoint, OnMessage on_message,
            std::optional<ServerSecurity> security = std::nullopt);
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
