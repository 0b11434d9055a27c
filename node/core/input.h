// Everything that can happen to a node, as data. The driver (runtime or
// simulator) builds an Input, stamps it with `now_ms`, and calls
// NodeState::step. Nothing else reaches the core.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "node/core/raft.h"
#include "protocol/messages.h"
#include "protocol/peer_messages.h"

namespace mesh {

// Opaque handle of a client request; the driver maps it back to a peer.
using RequestRef = uint64_t;

// One attempt the runner runs (see RunTask).
struct RunRef {
  uint32_t partition = 0;
  std::string id;
  uint32_t attempt = 0;
  auto operator<=>(const RunRef&) const = default;
  bool operator==(const RunRef&) const = default;
};

namespace in {

struct Submit {
  RequestRef request = 0;
  std::vector<TaskSpec> tasks;
  bool atomic = false;  // all or none, through a transaction (SubmitRequest)
  std::string txn = {};
};
struct Cancel {
  RequestRef request = 0;
  std::vector<std::string> ids;
  std::string job = {};  // instead of ids: every unfinished task of the job, all or none
};
struct Wait {
  RequestRef request = 0;
  WaitRequest query;
};
struct Get {
  RequestRef request = 0;
  GetRequest query;
};
struct List {
  RequestRef request = 0;
  ListRequest query;
};
struct Retry {
  RequestRef request = 0;
  RetryRequest query;
};
// A handler returned (or the runner gave up on it). An attempt is named by
// its task's partition, id and attempt number: ids repeat across partitions.
struct TaskFinished {
  uint32_t partition = 0;
  std::string id;
  uint32_t attempt = 0;
  bool ok = false;
  std::string output;  // result on success, error text on failure
};
// Attempts the runner finished since the loop last looked, in the order
// they finished: one step, so their completions share a log entry per
// partition (each handled as its own TaskFinished).
struct TasksFinished {
  std::vector<TaskFinished> finished;
};
// The runner is still running these attempts: extend their leases.
struct RenewLeases {
  std::vector<RunRef> running;
};
// Time passed; fires backoff, lease, timeout and wait deadlines.
struct Tick {};
// The partition groups read back from storage at start-up (empty on a new disk).
struct Recover {
  std::map<uint32_t, RaftDisk> groups;
  std::vector<std::string> known_peers = {};  // Effects::known_peers as last kept: joined along with the seeds
};
// SIGTERM: stop accepting and stop dispatching; running attempts finish.
// The node also leaves the mesh gracefully.
struct Drain {};
// Start of membership: contact these seed addresses. With no seeds and no
// partition on its disk the node founds a new mesh: it creates every
// partition group with itself as the only voter.
struct Join {
  std::vector<std::string> seed_addresses;
};
// The free space on the node's disk crossed its reserve (node/runtime
// checks it): while full the node takes no new tasks, leads nothing and
// accepts no log entries, so it never writes past the reserve.
struct StorageSpace {
  bool full = false;
};
// A message from another node.
struct FromPeer {
  PeerMessage message;
};

// An operator's word that a replica's disk is gone for good (meshctl
// operator remove-replica): the groups this node leads drop it, even below
// R voters.
struct RemoveReplica {
  RequestRef request = 0;
  std::string replica_id;
};

}  // namespace in

using InputEvent = std::variant<in::Submit, in::Cancel, in::Wait, in::Get, in::List, in::TaskFinished,
                                in::RenewLeases, in::Tick, in::Recover, in::Drain, in::Join, in::FromPeer,
                                in::Retry, in::StorageSpace, in::RemoveReplica, in::TasksFinished>;

struct Input {
  uint64_t now_ms = 0;
  InputEvent event;
};

}  // namespace mesh
