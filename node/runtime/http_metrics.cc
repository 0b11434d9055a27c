#include "node/runtime/http_metrics.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

namespace mesh {

namespace asio = boost::asio;
using asio::ip::tcp;

struct HttpMetrics::Impl : std::enable_shared_from_this<HttpMetrics::Impl> {
  Impl(asio::io_context& io, tcp::endpoint endpoint, std::function<std::string()> render_fn)
      : acceptor(io, endpoint), render(std::move(render_fn)) {}

  void accept() {
    acceptor.async_accept([self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
      if (ec) return;  // acceptor closed
      self->serve(std::make_shared<tcp::socket>(std::move(socket)));
      self->accept();
    });
  }

  void serve(std::shared_ptr<tcp::socket> socket) {
    auto buffer = std::make_shared<asio::streambuf>(8192);
    asio::async_read_until(*socket, *buffer, "\r\n\r\n",
                           [self = shared_from_this(), socket, buffer](boost::system::error_code ec, size_t) {
                             if (ec) return;
                             std::istream in(buffer.get());
                             std::string method, path;
                             in >> method >> path;
                             bool found = method == "GET" && (path == "/metrics" || path == "/");
                             std::string body = found ? self->render() : "not found\n";
                             auto response = std::make_shared<std::string>(
                                 std::string(found ? "HTTP/1.0 200 OK\r\n" : "HTTP/1.0 404 Not Found\r\n") +
                                 "Content-Type: text/plain; version=0.0.4\r\nContent-Length: " +
                                 std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
                             asio::async_write(*socket, asio::buffer(*response),
                                               [socket, response](boost::system::error_code, size_t) {
                                                 boost::system::error_code ignored;
                                                 socket->shutdown(tcp::socket::shutdown_both, ignored);
                                               });
                           });
  }

  tcp::acceptor acceptor;
  std::function<std::string()> render;
};

HttpMetrics::HttpMetrics(asio::io_context& io, const std::string& host_port, std::function<std::string()> render) {
  auto colon = host_port.rfind(':');
  try {
    auto address = asio::ip::make_address(host_port.substr(0, colon));
    auto port = static_cast<unsigned short>(std::stoi(host_port.substr(colon + 1)));
    impl_ = std::make_shared<Impl>(io, tcp::endpoint(address, port), std::move(render));
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
