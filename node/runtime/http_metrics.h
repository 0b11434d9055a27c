// A small HTTP/1.0 endpoint on the node's loop: GET only, one request per
// connection, a request that does not arrive whole within the read timeout
// is dropped. The handler answers through `respond`, at once or later on the
// loop (a task looked up across the mesh); the driver serves /metrics,
// /healthz, /readyz and the JSON API; anything else is 404.
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace mesh {

struct HttpAnswer {
  int status = 200;  // 200, 400, 404 or 503
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpMetrics {
 public:
  using Respond = std::function<void(HttpAnswer)>;
  // `target` is the request's path and query, as sent.
  using Handler = std::function<void(const std::string& target, Respond respond)>;
  static constexpr int kReadTimeoutMs = 5000;

  // Binds host:port (port 0 picks one). Throws std::runtime_error on failure.
  HttpMetrics(boost::asio::io_context& io, const std::string& host_port, Handler handler);
  ~HttpMetrics();
  std::string bound_address() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace mesh
