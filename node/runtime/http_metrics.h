// A minimal HTTP/1.0 endpoint for Prometheus: GET /metrics answers the text
// `render()` returns; anything else is 404. One request per connection.
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace mesh {

class HttpMetrics {
 public:
  // Binds host:port (port 0 picks one). Throws std::runtime_error on failure.
  HttpMetrics(boost::asio::io_context& io, const std::string& host_port, std::function<std::string()> render);
  ~HttpMetrics();
  std::string bound_address() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace mesh
