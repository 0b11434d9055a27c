#include "node/runtime/zmq_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <zmq.hpp>

#include <thread>

#include "node/runtime/zmq_options.h"

#include "protocol/limits.h"

namespace mesh {

namespace {
// Messages read per loop turn before yielding, so replies and group commits
// interleave with a flood of requests.
constexpr int kMaxMessagesPerTurn = 512;
constexpr size_t kMaxFramesPerMessage = 8;
constexpr int kQueueMessages = 100000;
constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";
constexpr const char* kZapDomain = "meshwork";

// Answers ZAP requests (RFC 27) until the context is shut down.
void serve_zap(zmq::socket_t socket, const ServerSecurity& security) {
  while (true) {
    std::vector<zmq::message_t> request;
    try {
      bool more = true;
      while (more) {
        zmq::message_t part;
        if (!socket.recv(part)) return;
        more = part.more();
        request.push_back(std::move(part));
      }
    } catch (const zmq::error_t&) {
      return;  // the context is shutting down
    }
    // version, request id, domain, address, routing id, mechanism, credentials...
    if (request.size() < 6) continue;
    std::string mechanism = request[5].to_string();
    std::string public_key;
    if (mechanism == "CURVE" && request.size() >= 7 && request[6].size() == 32) {
      char z85[41];
      zmq_z85_encode(z85, request[6].data<uint8_t>(), 32);
      public_key = z85;
    }
    std::optional<std::string> user_id;
    if (mechanism == "CURVE" || (mechanism == "NULL" && security.curve_secret_key.empty())) {
      user_id = security.authenticate(public_key, request[3].to_string());
    }
    std::vector<std::string> reply = {"1.0", request[1].to_string(), user_id ? "200" : "400",
                                      user_id ? "OK" : "not allowed", user_id.value_or(""), ""};
    try {
      for (size_t i = 0; i < reply.size(); ++i) {
        socket.send(zmq::buffer(reply[i]), i + 1 < reply.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
      }
    } catch (const zmq::error_t&) {
      return;
    }
  }
}

std::string user_id_of(const zmq::message_t& part) {
  const char* user_id = zmq_msg_gets(part.handle(), "User-Id");
  return user_id == nullptr ? std::string() : std::string(user_id);
}
}  // namespace

struct ZmqServer::Impl {
  Impl(boost::asio::io_context& io_context, const std::string& endpoint, OnMessage handler,
       std::optional<ServerSecurity> server_security)
      : io(io_context),
        socket(context, zmq::socket_type::router),
        on_message(std::move(handler)),
        security(std::move(server_security)) {
    apply_common_options(socket, kQueueMessages);
    if (security) {
      // The handler is bound before the first connection can need it.
      zmq::socket_t zap(context, zmq::socket_type::rep);
      zap.set(zmq::sockopt::linger, 0);
      zap.bind(kZapEndpoint);
      zap_thread = std::thread([zap = std::move(zap), this]() mutable { serve_zap(std::move(zap), *security); });
      socket.set(zmq::sockopt::zap_domain, kZapDomain);
      if (!security->curve_secret_key.empty()) {
        socket.set(zmq::sockopt::curve_server, true);
        socket.set(zmq::sockopt::curve_secretkey, security->curve_secret_key);
      }
    }
    try {
      socket.bind(endpoint);
    } catch (...) {
      stop_zap();
      throw;
    }
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
    stop_zap();
  }

  void stop_zap() {
    if (!zap_thread.joinable()) return;
    context.shutdown();  // ends the ZAP handler's wait
    zap_thread.join();
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
      std::string user_id;
      bool more = true;
      while (more) {
        zmq::message_t part;
        if (!socket.recv(part, zmq::recv_flags::dontwait)) break;
        more = part.more();
        // The routing-id frame is ROUTER's own; the sender's frames carry ZAP's verdict.
        if (security && !frames.empty() && user_id.empty()) user_id = user_id_of(part);
        // Keep reading the parts of an over-long message, but not storing them.
        if (frames.size() <= kMaxFramesPerMessage) frames.emplace_back(part.to_string());
      }
      ++handled;
      if (frames.empty()) continue;
      std::string peer = std::move(frames.front());
      frames.erase(frames.begin());
      on_message(peer, user_id, std::move(frames));
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
  std::optional<ServerSecurity> security;
  std::thread zap_thread;
  std::optional<boost::asio::posix::stream_descriptor> descriptor;
  bool waiting = false;  // at most one async_wait outstanding
};

ZmqServer::ZmqServer(boost::asio::io_context& io, const std::string& endpoint, OnMessage on_message,
                     std::optional<ServerSecurity> security) {
  try {
    impl_ = std::make_unique<Impl>(io, endpoint, std::move(on_message), std::move(security));
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
