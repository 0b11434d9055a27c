#include "node/runtime/http_metrics.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

namespace mesh {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

const char* status_line(int status) {
  switch (status) {
    case 200: return "HTTP/1.0 200 OK\r\n";
    case 400: return "HTTP/1.0 400 Bad Request\r\n";
    case 404: return "HTTP/1.0 404 Not Found\r\n";
    default: return "HTTP/1.0 503 Service Unavailable\r\n";
  }
}

}  // namespace

struct HttpMetrics::Impl : std::enable_shared_from_this<HttpMetrics::Impl> {
  Impl(asio::io_context& io, tcp::endpoint endpoint, Handler handler_fn)
      : acceptor(io, endpoint), handler(std::move(handler_fn)) {}

  void accept() {
    acceptor.async_accept([self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
      if (ec) return;  // acceptor closed
      self->serve(std::make_shared<tcp::socket>(std::move(socket)));
      self->accept();
    });
  }

  // A client that sends nothing (or too slowly) must not hold a socket forever.
  void serve(std::shared_ptr<tcp::socket> socket) {
    auto buffer = std::make_shared<asio::streambuf>(8192);
    auto deadline = std::make_shared<asio::steady_timer>(acceptor.get_executor());
    deadline->expires_after(std::chrono::milliseconds(kReadTimeoutMs));
    deadline->async_wait([socket](boost::system::error_code ec) {
      if (ec) return;  // cancelled: the request arrived
      boost::system::error_code ignored;
      socket->close(ignored);
    });
    asio::async_read_until(*socket, *buffer, "\r\n\r\n",
                           [self = shared_from_this(), socket, buffer, deadline](boost::system::error_code ec, size_t) {
                             deadline->cancel();
                             if (ec) return;
                             std::istream in(buffer.get());
                             std::string method, path;
                             in >> method >> path;
                             if (method != "GET") return self->respond(socket, {404, "text/plain", "not found\n"});
                             self->handler(path, [self, socket](HttpAnswer answer) { self->respond(socket, answer); });
                           });
  }

  void respond(const std::shared_ptr<tcp::socket>& socket, const HttpAnswer& answer) {
    auto response = std::make_shared<std::string>(std::string(status_line(answer.status)) +
                                                  "Content-Type: " + answer.content_type +
                                                  "\r\nContent-Length: " + std::to_string(answer.body.size()) +
                                                  "\r\nConnection: close\r\n\r\n" + answer.body);
    asio::async_write(*socket, asio::buffer(*response), [socket, response](boost::system::error_code, size_t) {
      boost::system::error_code ignored;
      socket->shutdown(tcp::socket::shutdown_both, ignored);
    });
  }

  tcp::acceptor acceptor;
  Handler handler;
};

HttpMetrics::HttpMetrics(asio::io_context& io, const std::string& host_port, Handler handler) {
  auto colon = host_port.rfind(':');
  try {
    auto address = asio::ip::make_address(host_port.substr(0, colon));
    auto port = static_cast<unsigned short>(std::stoi(host_port.substr(colon + 1)));
    impl_ = std::make_shared<Impl>(io, tcp::endpoint(address, port), std::move(handler));
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot serve metrics on " + host_port + ": " + e.what());
  }
  impl_->accept();
}

HttpMetrics::~HttpMetrics() {
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
}

std::string HttpMetrics::bound_address() const {
  auto endpoint = impl_->acceptor.local_endpoint();
  return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

}  // namespace mesh
