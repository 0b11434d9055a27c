#include "node/runtime/peer_transport.h"

#include <zmq.hpp>

#include "node/runtime/zmq_options.h"

#include <map>

#include "protocol/limits.h"

namespace mesh {

namespace {
// Messages queued per peer, also while its connection is being set up (the
// first Sync to a seed must not be lost); beyond this they are dropped, which
// SWIM treats as loss.
constexpr int kPeerSendQueue = 1000;
constexpr int kReconnectMaxMs = 1000;
}  // namespace

struct PeerTransport::Impl {
  zmq::context_t context{1};
  std::optional<CurveClientKeys> curve;
  std::map<std::string, zmq::socket_t> sockets;

  zmq::socket_t& socket_for(const std::string& address) {
    auto it = sockets.find(address);
    if (it != sockets.end()) return it->second;
    zmq::socket_t socket(context, zmq::socket_type::dealer);
    apply_common_options(socket, kPeerSendQueue);
    socket.set(zmq::sockopt::reconnect_ivl_max, kReconnectMaxMs);
    if (curve) apply_curve_client(socket, *curve);
    socket.connect(address);
    return sockets.emplace(address, std::move(socket)).first->second;
  }
};

PeerTransport::PeerTransport(std::optional<CurveClientKeys> curve) : impl_(std::make_unique<Impl>()) {
  impl_->curve = std::move(curve);
}

PeerTransport::~PeerTransport() = default;

bool PeerTransport::send(const std::string& address, const std::string& envelope, const std::string& body) {
  try {
    zmq::socket_t& socket = impl_->socket_for(address);
    if (!socket.send(zmq::buffer(envelope), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return false;
    return socket.send(zmq::buffer(body), zmq::send_flags::dontwait).has_value();
  } catch (const zmq::error_t&) {
    // A malformed address gossiped by a peer: drop the message, keep going.
    impl_->sockets.erase(address);
    return false;
  }
}

bool PeerTransport::disconnect(const std::string& address) { return impl_->sockets.erase(address) > 0; }

size_t PeerTransport::peers() const { return impl_->sockets.size(); }

}  // namespace mesh
