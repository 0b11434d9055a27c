#include "node/runtime/zmq_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <zmq.hpp>

#include "node/runtime/zmq_options.h"

#include "protocol/limits.h"

namespace mesh {

namespace {
// Messages read per loop turn before yielding, so replies and group commits
// interleave with a flood of requests.
constexpr int kMaxMessagesPerTurn = 512;
constexpr size_t kMaxFramesPerMessage = 8;
constexpr int kQueueMessages = 100000;
}  // namespace

struct ZmqServer::Impl {
  Impl(boost::asio::io_context& io_context, const std::string& endpoint, OnMessage handler)
      : io(io_context), socket(context, zmq::socket_type::router), on_message(std::move(handler)) {
    apply_common_options(socket, kQueueMessages);
    socket.bind(endpoint);
    descriptor.emplace(io, socket.get(zmq::sockopt::fd));
    wait();
  }

  ~Impl() { shutdown(); }

  void shutdown() {
    if (!descriptor) return;
    descriptor->cancel();
    descriptor->release();  // the fd belongs to ZeroMQ
    descriptor.reset();
    socket.close();
  }

  void wait() {
    if (!descriptor || waiting) return;
    waiting = true;
    descriptor->async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
      waiting = false;
      if (!ec) drain();
    });
  }

  void drain() {
    if (!descriptor) return;
    int handled = 0;
    while (handled < kMaxMessagesPerTurn && (socket.get(zmq::sockopt::events) & ZMQ_POLLIN)) {
      std::vector<std::string> frames;
      bool more = true;
      while (more) {
        zmq::message_t part;
        if (!socket.recv(part, zmq::recv_flags::dontwait)) break;
        more = part.more();
        // Keep reading the parts of an over-long message, but not storing them.
        if (frames.size() <= kMaxFramesPerMessage) frames.emplace_back(part.to_string());
      }
      ++handled;
      if (frames.empty()) continue;
      std::string peer = std::move(frames.front());
      frames.erase(frames.begin());
      on_message(peer, std::move(frames));
      if (!descriptor) return;
    }
    if (socket.get(zmq::sockopt::events) & ZMQ_POLLIN) {
      boost::asio::post(io, [this] { drain(); });
    } else {
      wait();
    }
  }

  boost::asio::io_context& io;
  zmq::context_t context{1};
  zmq::socket_t socket;
  OnMessage on_message;
  std::optional<boost::asio::posix::stream_descriptor> descriptor;
  bool waiting = false;  // at most one async_wait outstanding
};

ZmqServer::ZmqServer(boost::asio::io_context& io, const std::string& endpoint, OnMessage on_message) {
  try {
    impl_ = std::make_unique<Impl>(io, endpoint, std::move(on_message));
  } catch (const zmq::error_t& e) {
    throw std::runtime_error("cannot listen on " + endpoint + ": " + e.what());
  }
}

ZmqServer::~ZmqServer() = default;

std::string ZmqServer::bound_endpoint() const { return impl_->socket.get(zmq::sockopt::last_endpoint); }

void ZmqServer::send(const std::string& peer, const std::string& envelope, const std::string& body) {
  if (!impl_->descriptor) return;
  // ROUTER drops messages to peers that went away; a client that vanished
  // simply misses its reply.
  impl_->socket.send(zmq::buffer(peer), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  impl_->socket.send(zmq::buffer(envelope), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  impl_->socket.send(zmq::buffer(body), zmq::send_flags::dontwait);
  // Sending can consume the edge that announced pending input.
  if (impl_->socket.get(zmq::sockopt::events) & ZMQ_POLLIN) {
    boost::asio::post(impl_->io, [impl = impl_.get()] { impl->drain(); });
  }
}

void ZmqServer::close() { impl_->shutdown(); }

}  // namespace mesh
