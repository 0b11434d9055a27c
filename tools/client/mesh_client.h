// MeshClient: the client library behind meshctl, meshbench and the tests.
// One ZeroMQ DEALER connected to a node; requests carry ids and replies are
// matched to them, so late replies of an earlier, timed-out request are
// dropped rather than mistaken for the current one.
//
// With several endpoints, a request that gets no answer in time moves the
// client to the next endpoint; that request itself fails with kUnavailable
// (submits are idempotent by task id, so the caller may simply resend).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "node/runtime/curve_keys.h"
#include "protocol/messages.h"
#include "protocol/result.h"

namespace mesh {

struct ClientOptions {
  uint64_t timeout_ms = 10000;
  std::string client_id = "meshctl";
  // A mesh with keys: this client's key pair and the mesh's public key.
  std::optional<CurveClientKeys> curve = std::nullopt;
};

class MeshClient {
 public:
  explicit MeshClient(std::vector<std::string> endpoints, ClientOptions options = {});
  ~MeshClient();
  MeshClient(const MeshClient&) = delete;
  MeshClient& operator=(const MeshClient&) = delete;

  // Sends one request and waits for its reply. An ErrorReply becomes a
  // Status with the node's code and message. An endpoint that does not
  // answer within timeout_ms is passed over for the next one, each tried once.
  Result<Reply> call(const Request& request, uint64_t timeout_ms = 0);

  Result<SubmitReply> submit(std::vector<TaskSpec> tasks);
  // All of the tasks or none, through one transaction across their
  // partitions. Give every task an id and the transaction one (`txn`): a
  // resend to another node is then the same transaction, and learns its
  // outcome. Every outcome is kOk when committed; when aborted, the task that
  // caused it carries its reason and the rest kAborted.
  Result<SubmitReply> submit_atomic(std::vector<TaskSpec> tasks, std::string txn);
  // `keys`: the key each id was submitted under ("" none), or empty; with
  // them a node asks only those partitions.
  Result<GetReply> get(std::vector<std::string> ids, std::vector<std::string> keys = {});
  // Waits up to request.timeout_ms on the node, plus the client timeout.
  Result<WaitReply> wait(WaitRequest request);
  Result<CancelReply> cancel(std::vector<std::string> ids);
  // Cancels every unfinished task of a job (the transaction id of its
  // atomic submit), all or none: one outcome per task of the job, kOk for
  // each one cancelled, kAlreadyTerminal for each that had finished. An
  // error (kAborted, kNotFound, ...) means none was cancelled; kUnavailable
  // that the outcome is unknown.
  Result<CancelReply> cancel_job(std::string job);
  // Re-queues dead letters: `ids`, or every FAILED task when all_failed.
  Result<RetryReply> retry(std::vector<std::string> ids, bool all_failed);
  Result<ListReply> list(ListRequest request);
  Result<StatsReply> stats();

  // Pipelining: send() returns the request id at once; receive() returns the
  // next reply of any outstanding request.
  Result<uint64_t> send(const Request& request);
  Result<std::pair<uint64_t, Reply>> receive(uint64_t timeout_ms);

  // Sends raw frames (tests of hostile input) and reads the raw reply frames.
  Status send_frames(const std::vector<std::string>& frames);
  Result<std::vector<std::string>> receive_frames(uint64_t timeout_ms);

  const std::string& endpoint() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mesh
