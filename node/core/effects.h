// What the core asks its driver to do after one step. Order matters and is
// the driver's contract: first persist `raft_writes` and `compactions` with
// one synced write, then send `replies` and `sends`, then abort and start
// runs. Nothing leaves the node before the state it depends on is durable:
// not a reply, not a vote or an append acknowledgement, not a StealGrant
// (whose leases are committed log entries by then).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "node/core/input.h"
#include "node/core/membership.h"
#include "node/core/raft.h"
#include "protocol/messages.h"

namespace mesh {

// RunTask (one attempt to run) is declared with the peer messages, since a
// StealGrant carries the very same thing.

struct AbortRun {
  std::string id;
  uint32_t attempt = 0;
  uint32_t partition = 0;
};

struct AddressedReply {
  RequestRef request = 0;
  Reply reply;
};

// What one partition group asks to persist (the first step of its Ready's
// contract); messages and committed entries are already handled by the core.
struct RaftWrite {
  uint32_t group = 0;
  Ready ready;
};

// A replica of this node stopped serving its partition: what it holds could
// not be read back (a snapshot or log entry that does not decode). Said once,
// loudly: the host logs it; the partition shows as halted.
struct PartitionHalt {
  uint32_t group = 0;
  uint64_t index = 0;  // of the snapshot or entry that does not decode
  std::string reason;
};

// A group compacted its log: persist the snapshot, drop the entries it covers.
struct RaftCompaction {
  uint32_t group = 0;
  Snapshot snapshot;
};

struct Effects {
  std::vector<RaftWrite> raft_writes;      // in the order produced
  std::vector<RaftCompaction> compactions;  // persisted after raft_writes: they may cover its entries
  std::vector<AddressedReply> replies;
  std::vector<AbortRun> aborts;
  std::vector<RunTask> runs;
  std::vector<OutgoingPeerMessage> sends;  // to other nodes, after the writes are synced (but see below)
  // Peer addresses no member uses any more (reaped, or moved): their
  // connections are closed after `sends` (a later send dials again).
  std::vector<std::string> disconnects;
  std::vector<TaskRecord> finished;        // records that became terminal on a partition this node leads
  std::vector<uint64_t> txn_in_doubt_ms;   // how long intents resolved on a led partition waited for it
  std::vector<PartitionHalt> halts;
  std::vector<MeshEvent> events;           // what this node saw happen, unnumbered (the driver numbers them)
  // The addresses of the other live members, when they changed: kept on
  // disk (a hint, not part of persists()) so that a restart without seeds
  // finds the mesh again.
  std::optional<std::vector<std::string>> known_peers;
  std::optional<uint64_t> wake_at_ms;      // call step(Tick) at or after this instant

  bool persists() const { return !raft_writes.empty() || !compactions.empty(); }
  bool empty() const { return !persists() && replies.empty() && aborts.empty() && runs.empty() && sends.empty(); }
};

// Whether `message` may leave before its turn's writes are durable: it
// asserts nothing about this node's state (a request carrying a client's
// tasks or a read, a probe), so a crash that loses the writes cannot make
// it untrue; or it is a batch of a leader's Raft messages (see effects.cc).
// Everything else (Raft answers and votes, decisions, grants, results,
// answers to clients) waits for the sync.
bool may_leave_before_sync(const PeerMessage& message);
bool may_leave_before_sync(const OutgoingPeerMessage& send);

// Folds the Raft batches of one turn's steps into one per address (within a
// frame's bounds), each where the first of them stood: a receiver then takes
// a turn's appends, or its answers, in one step. Messages keep their order
// per address; everything else keeps its place.
void merge_raft_batches(std::vector<OutgoingPeerMessage>& sends);

}  // namespace mesh
