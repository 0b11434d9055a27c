#include "node/runtime/http_server.h"

#include <optional>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace mesh {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

class HttpListener : public std::enable_shared_from_this<HttpListener> {
 public:
  HttpListener(asio::io_context& io, const tcp::endpoint& endpoint, HttpServer::Handler on_request)
      : acceptor(io, endpoint), handler(std::move(on_request)) {}
  void accept();

  tcp::acceptor acceptor;
  HttpServer::Handler handler;
  size_t connections = 0;
};

namespace {

// One connection: read a request, hand it to the handler, write its answer,
// and read the next one if the client keeps the connection alive.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, std::shared_ptr<HttpListener> listener)
      : stream_(std::move(socket)), listener_(std::move(listener)) {
    ++listener_->connections;
  }
  ~Connection() { --listener_->connections; }

  void read_request() {
    parser_.emplace();
    parser_->header_limit(HttpServer::kMaxHeaderBytes);
    parser_->body_limit(0);  // GET carries no body
    stream_.expires_after(std::chrono::milliseconds(HttpServer::kReadTimeoutMs));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_request(ec); });
  }

 private:
  void on_request(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted) {
      return close();
    }
    if (ec) return answer(11, false, {400, "text/plain; charset=utf-8", "bad request: " + ec.message() + "\n"});
    const auto& request = parser_->get();
    unsigned version = request.version();
    bool keep_alive = request.keep_alive();
    if (request.method() != http::verb::get) {
      return answer(version, false, {405, "text/plain; charset=utf-8", "only GET is served\n"});
    }
    // No deadline while the handler works: a task lookup is bounded by the core.
    stream_.expires_never();
    listener_->handler(std::string(request.target()),
                       [self = shared_from_this(), version, keep_alive](HttpAnswer a) {
                         self->answer(version, keep_alive, a);
                       });
  }

  void answer(unsigned version, bool keep_alive, const HttpAnswer& answer) {
    response_.emplace(static_cast<http::status>(answer.status), version);
    response_->set(http::field::content_type, answer.content_type);
    response_->set(http::field::cache_control, "no-store");
    if (answer.status == 405) response_->set(http::field::allow, "GET");
    response_->keep_alive(keep_alive);
    response_->body() = answer.body;
    response_->prepare_payload();
    stream_.expires_after(std::chrono::milliseconds(HttpServer::kWriteTimeoutMs));
    http::async_write(stream_, *response_, [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
      if (ec || !keep_alive) return self->close();
      self->read_request();
    });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  std::shared_ptr<HttpListener> listener_;
};

}  // namespace

void HttpListener::accept() {
  acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (ec) return;  // acceptor closed
    if (self->connections < HttpServer::kMaxConnections) {
      std::make_shared<Connection>(std::move(socket), self)->read_request();
    }  // else the socket closes here, as it goes out of scope
    self->accept();
  });
}

HttpServer::HttpServer(asio::io_context& io, const std::string& host_port, Handler handler) {
  auto colon = host_port.rfind(':');
  try {
    auto address = asio::ip::make_address(host_port.substr(0, colon));
    auto port = static_cast<unsigned short>(std::stoi(host_port.substr(colon + 1)));
    listener_ = std::make_shared<HttpListener>(io, tcp::endpoint(address, port), std::move(handler));
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot serve HTTP on " + host_port + ": " + e.what());
  }
  listener_->accept();
}

HttpServer::~HttpServer() {
  beast::error_code ignored;
  listener_->acceptor.close(ignored);
}

std::string HttpServer::bound_address() const {
  auto endpoint = listener_->acceptor.local_endpoint();
  return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

}  // namespace mesh
