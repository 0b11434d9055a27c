// TurnOutput: what the steps of one loop turn produced, carried out together
// in the one order that keeps the node's promises:
//   1. one write of every group's Raft state (group commit), synced when
//      any group's Ready must be (Ready::must_sync; a turn that only moved
//      commit indexes or compacted is written without a sync);
//   2. replies to clients;
//   3. messages to other nodes (votes, append acknowledgements, grants);
//      requests that depend on nothing written (may_leave_before_sync) go
//      before the write, so that their round trip overlaps the sync;
//   4. connections to released addresses closed;
//   5. new runs, then aborts, to the executor (an abort may name a run an
//      earlier step of the same turn started).
// Nothing of a turn leaves before the write it may depend on is on disk:
// if the write fails, nothing leaves at all and the node must stop (its
// memory is ahead of its disk; a restart recovers from the store).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "node/core/effects.h"
#include "node/env/storage.h"
#include "node/runtime/metrics.h"
#include "node/runtime/outlets.h"
#include "protocol/messages.h"

namespace mesh {

class TurnOutput {
 public:
  // A client request in flight: where its answer goes.
  struct Client {
    std::string peer;
    uint64_t request_id = 0;
    bool wait = false;  // a `wait` request (ConnectionLimits counts them apart)
    // Set for a request that did not come over ZeroMQ (the HTTP API): the
    // answer is handed here, after the write it may depend on, like any other.
    std::function<void(const Reply&)> deliver = {};
  };

  TurnOutput(Storage& store, PeerOutlet& peers, std::string node_id);

  // The outlets that exist only once the node serves; until then replies
  // are dropped and runs wait.
  void attach(ReplyOutlet* replies, RunOutlet* runs);

  // The mesh id every peer message carries from now on.
  void set_mesh_id(std::string mesh_id) { mesh_id_ = std::move(mesh_id); }

  // Told of every answer to a request given to expect_reply, as it is queued.
  void on_answered(std::function<void(const Client&)> answered) { answered_ = std::move(answered); }
  // Remembers where the answer to `request` goes.
  void expect_reply(RequestRef request, Client client) { clients_[request] = std::move(client); }
  // Requests given to expect_reply not answered yet, `wait` requests (long
  // polls) aside: a draining node answers these before it exits.
  size_t requests_awaiting_reply() const;
  // Answers a request the core never saw (refused at the door).
  void reply_now(const Client& client, Reply reply);

  // Gathers one step's effects (not `finished` and `halts`: the driver's).
  void add(Effects& effects);
  // Carries out everything gathered, in order. A failed write returns its
  // error, and nothing gathered leaves.
  Status flush();

  // What the store sync costs (µs) and how many writes each carries.
  const Histogram& sync_us() const { return sync_us_; }
  const Histogram& batch_writes() const { return batch_writes_; }
  const std::map<std::string, uint64_t>& counters() const { return counters_; }

 private:
  struct Outgoing {
    Client client;
    Reply reply;
  };
  void send_reply(const Outgoing& o);
  void send_to_peer(const OutgoingPeerMessage& send);

  Storage& store_;
  PeerOutlet& peers_;
  ReplyOutlet* replies_ = nullptr;
  RunOutlet* runs_ = nullptr;
  std::string node_id_;
  std::string mesh_id_;

  std::map<RequestRef, Client> clients_;
  std::function<void(const Client&)> answered_;
  WriteBatch batch_;
  bool batch_must_sync_ = false;
  std::vector<Outgoing> outgoing_;
  std::vector<OutgoingPeerMessage> sends_;
  std::vector<std::string> disconnects_;
  std::vector<AbortRun> aborts_;
  std::vector<RunTask> new_runs_;
  bool failed_ = false;

  Histogram sync_us_;
  Histogram batch_writes_;
  std::map<std::string, uint64_t> counters_;
};

}  // namespace mesh
