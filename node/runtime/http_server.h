// The node's HTTP endpoint (Boost.Beast on the node's loop): GET only,
// HTTP/1.0 and 1.1 with keep-alive. A request must arrive whole within the
// read timeout and a keep-alive connection idle that long is closed, so a
// slow or silent client cannot hold a socket; past kMaxConnections new
// connections are closed at once. The handler answers through `respond`, at
// once or later on the loop (a task looked up across the mesh); the driver
// serves /metrics, /healthz, /readyz, the page and the JSON API.
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace mesh {

class HttpListener;  // the acceptor and its connections, in http_server.cc

struct HttpAnswer {
  int status = 200;  // 200, 400, 404, 405 or 503
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpServer {
 public:
  using Respond = std::function<void(HttpAnswer)>;
  // `target` is the request's path and query, as sent.
  using Handler = std::function<void(const std::string& target, Respond respond)>;
  static constexpr int kReadTimeoutMs = 5000;
  static constexpr int kWriteTimeoutMs = 10000;
  static constexpr size_t kMaxConnections = 256;
  static constexpr size_t kMaxHeaderBytes = 8192;

  // Binds host:port (port 0 picks one). Throws std::runtime_error on failure.
  HttpServer(boost::asio::io_context& io, const std::string& host_port, Handler handler);
  ~HttpServer();
  std::string bound_address() const;

 private:
  std::shared_ptr<HttpListener> listener_;
};

}  // namespace mesh
