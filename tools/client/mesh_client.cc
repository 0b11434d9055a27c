#include "tools/client/mesh_client.h"

#include <zmq.hpp>

#include "node/runtime/zmq_options.h"

#include <chrono>

#include "protocol/codec.h"
#include "protocol/limits.h"

namespace mesh {

namespace {

constexpr int kQueueMessages = 100000;  // pipelined requests in flight

Status unavailable(const std::string& endpoint, uint64_t timeout_ms, bool with_keys) {
  return Status(ErrorCode::kUnavailable, "no reply from " + endpoint + " within " + std::to_string(timeout_ms) +
                                             (with_keys ? " ms (is meshd running? is this client's key allow-listed?)"
                                                        : " ms (is meshd running?)"));
}

template <typename T>
Result<T> expect(Result<Reply> reply) {
  if (!reply.ok()) return reply.status();
  if (auto* m = std::get_if<T>(&reply.value())) return std::move(*m);
  return Status(ErrorCode::kMalformed, "unexpected reply kind");
}

}  // namespace

struct MeshClient::Impl {
  Impl(std::vector<std::string> eps, ClientOptions opts) : endpoints(std::move(eps)), options(std::move(opts)) {
    if (endpoints.empty()) endpoints.push_back("tcp://127.0.0.1:7700");
    connect();
  }

  void connect() {
    socket = std::make_unique<zmq::socket_t>(context, zmq::socket_type::dealer);
    apply_common_options(*socket, kQueueMessages);
    if (options.curve) apply_curve_client(*socket, *options.curve);
    socket->connect(endpoints[current]);
  }

  // Moves to the next endpoint; replies still in flight are abandoned.
  void fail_over() {
    current = (current + 1) % endpoints.size();
    connect();
  }

  Status send_frames(const std::vector<std::string>& frames) {
    for (size_t i = 0; i < frames.size(); ++i) {
      auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
      if (!socket->send(zmq::buffer(frames[i]), flags | zmq::send_flags::dontwait)) {
        // A DEALER refuses to queue while it has no connection, and a
        // handshake the node refused (keys) leaves it none.
        return Status(ErrorCode::kUnavailable,
                      "cannot send to " + endpoints[current] +
                          (options.curve ? ": no connection (is meshd running? is this client's key allow-listed?)"
                                         : ": no connection or a full queue (is meshd running? a mesh with keys "
                                           "needs --client-key and --mesh-key)"));
      }
    }
    return Status::Ok();
  }

  Result<std::vector<std::string>> receive_frames(uint64_t timeout_ms) {
    zmq::pollitem_t item{static_cast<void*>(*socket), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms)) == 0) {
      return unavailable(endpoints[current], timeout_ms, options.curve.has_value());
    }
    std::vector<std::string> frames;
    bool more = true;
    while (more) {
      zmq::message_t part;
      if (!socket->recv(part, zmq::recv_flags::dontwait)) break;
      more = part.more();
      frames.push_back(part.to_string());
    }
    return frames;
  }

  Result<uint64_t> send(const Request& request) {
    uint64_t id = next_id++;
    Envelope env{kProtocolVersion, static_cast<uint16_t>(request_kind(request)), id, options.client_id};
    if (Status s = send_frames({encode_envelope(env), encode_request(request)}); !s.ok()) return s;
    return id;
  }

  Result<std::pair<uint64_t, Reply>> receive(uint64_t timeout_ms) {
    auto frames = receive_frames(timeout_ms);
    if (!frames.ok()) return frames.status();
    if (frames.value().size() != 2) return Status(ErrorCode::kMalformed, "reply is not 2 frames");
    auto env = decode_envelope(frames.value()[0]);
    if (!env.ok()) return env.status();
    auto reply = decode_reply(env.value().kind, frames.value()[1]);
    if (!reply.ok()) return reply.status();
    return std::make_pair(env.value().request_id, std::move(reply).value());
  }

  // With several endpoints, one that does not answer is left for the next,
  // which gets the request again (task ids make a resent submit idempotent);
  // each endpoint is asked at most once.
  Result<Reply> call(const Request& request, uint64_t timeout_ms) {
    for (size_t asked = 1;; ++asked) {
      const size_t endpoint = current;
      auto reply = call_current(request, timeout_ms);
      const bool moved_on = current != endpoint;  // no answer: fail_over picked the next one
      if (!moved_on || asked >= endpoints.size()) return reply;
    }
  }

  Result<Reply> call_current(const Request& request, uint64_t timeout_ms) {
    auto id = send(request);
    if (!id.ok()) return id.status();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      auto now = std::chrono::steady_clock::now();
      uint64_t left =
          now >= deadline ? 0 : static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count());
      auto reply = receive(left);
      if (!reply.ok()) {
        if (reply.status().code() == ErrorCode::kUnavailable) {
          Status s = unavailable(endpoints[current], timeout_ms, options.curve.has_value());
          if (endpoints.size() > 1) fail_over();
          return s;
        }
        return reply.status();
      }
      if (reply.value().first != id.value()) continue;  // a late reply to an abandoned request
      Reply& r = reply.value().second;
      if (auto* error = std::get_if<ErrorReply>(&r)) return Status(error->code, error->message);
      return std::move(r);
    }
  }

  zmq::context_t context{1};
  std::vector<std::string> endpoints;
  ClientOptions options;
  size_t current = 0;
  uint64_t next_id = 1;
  std::unique_ptr<zmq::socket_t> socket;
};

MeshClient::MeshClient(std::vector<std::string> endpoints, ClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(endpoints), std::move(options))) {}
MeshClient::~MeshClient() = default;

Result<Reply> MeshClient::call(const Request& request, uint64_t timeout_ms) {
  return impl_->call(request, timeout_ms ? timeout_ms : impl_->options.timeout_ms);
}
Result<SubmitReply> MeshClient::submit(std::vector<TaskSpec> tasks) {
  return expect<SubmitReply>(call(SubmitRequest{std::move(tasks)}));
}
Result<SubmitReply> MeshClient::submit_atomic(std::vector<TaskSpec> tasks, std::string txn) {
  return expect<SubmitReply>(call(SubmitRequest{std::move(tasks), true, std::move(txn)}));
}
Result<GetReply> MeshClient::get(std::vector<std::string> ids, std::vector<std::string> keys) {
  return expect<GetReply>(call(GetRequest{std::move(ids), std::move(keys)}));
}
Result<WaitReply> MeshClient::wait(WaitRequest request) {
  uint64_t timeout = request.timeout_ms + impl_->options.timeout_ms;
  return expect<WaitReply>(call(std::move(request), timeout));
}
Result<CancelReply> MeshClient::cancel(std::vector<std::string> ids) {
  return expect<CancelReply>(call(CancelRequest{std::move(ids)}));
}
Result<CancelReply> MeshClient::cancel_job(std::string job) {
  return expect<CancelReply>(call(CancelRequest{{}, std::move(job)}));
}

Result<RetryReply> MeshClient::retry(std::vector<std::string> ids, bool all_failed) {
  return expect<RetryReply>(call(RetryRequest{std::move(ids), all_failed}));
}
Result<ListReply> MeshClient::list(ListRequest request) { return expect<ListReply>(call(std::move(request))); }
Result<StatsReply> MeshClient::stats() { return expect<StatsReply>(call(StatsRequest{})); }
Result<uint64_t> MeshClient::send(const Request& request) { return impl_->send(request); }
Result<std::pair<uint64_t, Reply>> MeshClient::receive(uint64_t timeout_ms) { return impl_->receive(timeout_ms); }
Status MeshClient::send_frames(const std::vector<std::string>& frames) { return impl_->send_frames(frames); }
Result<std::vector<std::string>> MeshClient::receive_frames(uint64_t timeout_ms) {
  return impl_->receive_frames(timeout_ms);
}
const std::string& MeshClient::endpoint() const { return impl_->endpoints[impl_->current]; }

}  // namespace mesh
