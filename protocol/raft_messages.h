// Messages of one Raft group (node/core/raft.h) and the log entry they carry.
// Plain structs with no behaviour; codec.h encodes them, many at a time, in
// the RaftBatch peer message (peer_messages.h). Every message names its group
// (the partition id), its sender and receiver (replica ids) and the sender's
// term, so a host multiplexes the groups of a node over one connection and
// coalesces the messages of all groups for one destination (heartbeats
// included) into one batch. Fields are only ever appended.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace mesh {

enum class EntryType : uint8_t {
  kNormal = 0,  // data for the host's state machine
  kNoop = 1,    // appended by every new leader, so entries of earlier terms can commit
  kConfig = 2,  // a new replica set (voters and learners); takes effect on every replica as soon as it is appended
};

struct LogEntry {
  uint64_t index = 0;
  uint64_t term = 0;
  EntryType type = EntryType::kNormal;
  std::string data;                 // kNormal: the proposal
  std::vector<std::string> voters;  // kConfig: the whole new voter set, sorted
  // kConfig: replicas that receive the log but neither vote nor count
  // toward a majority (catching up before they are promoted), sorted.
  std::vector<std::string> learners = {};
  bool operator==(const LogEntry&) const = default;
};

// What a replica must persist about itself (raft.h's durability contract).
struct HardState {
  uint64_t term = 0;
  std::string vote;  // whom this replica voted for in `term`; empty if nobody
  uint64_t commit = 0;
  bool operator==(const HardState&) const = default;
};

// The point a snapshot covers: everything up to `index` is in the snapshot.
struct SnapshotMeta {
  uint64_t index = 0;
  uint64_t term = 0;                // term of the entry at index
  std::vector<std::string> voters;  // configuration as of index, sorted
  std::vector<std::string> learners = {};
  bool operator==(const SnapshotMeta&) const = default;
};

struct Snapshot {
  SnapshotMeta meta;
  std::string data;  // the host's state machine as of meta.index
};

// A (pre-)candidate asks for a vote; a pre-vote asks "would you vote for me at
// `term`?" and changes nobody's term. `transfer`: sent after TimeoutNow, so
// receivers ignore leader stickiness.
struct VoteRequest {
  uint32_t group = 0;
  uint64_t term = 0;
  std::string from;
  std::string to;
  uint64_t last_index = 0;
  uint64_t last_term = 0;
  bool pre_vote = false;
  bool transfer = false;
};

// The answer to a VoteRequest; a granted one carries the request's term.
struct VoteResponse {
  uint32_t group = 0;
  uint64_t term = 0;
  std::string from;
  std::string to;
  bool pre_vote = false;
  bool granted = false;
};

// The leader replicates `entries` following (prev_index, prev_term) and says how far it has committed.
struct AppendRequest {
  uint32_t group = 0;
  uint64_t term = 0;
  std::string from;
  std::string to;
  uint64_t prev_index = 0;
  uint64_t prev_term = 0;
  uint64_t commit = 0;
  std::vector<LogEntry> entries;
};

// The answer to AppendRequest or InstallSnapshot: success with the index up to
// which the follower's log now matches the leader's, or a rejection of
// reject_index with a hint: the follower's term there (0 when its log is
// shorter) and the first index it holds of that term (its last index + 1 when shorter).
struct AppendResponse {
  uint32_t group = 0;
  uint64_t term = 0;
  std::string from;
  std::string to;
  bool success = false;
  uint64_t match_index = 0;
  uint64_t reject_index = 0;
  uint64_t conflict_term = 0;
  uint64_t conflict_index = 0;
};

// The leader's periodic liveness signal; commit is capped at what the
// follower is known to hold, read_seq numbers a read-index confirmation round.
struct Heartbeat {
  uint32_t group = 0;
  uint64_t term = 0;
  std::string from;
  std::string to;
  uint64_t commit = 0;
  uint64_t read_seq = 0;
};

// The answer to a Heartbeat, echoing its read_seq.
struct HeartbeatResponse {
  uint32_t group = 0;
  uint64_t term = 0;
  std::string from;
  std::string to;
  uint64_t read_seq = 0;
};

// The leader streams its snapshot to a follower that needs entries it has
// compacted away, one chunk of `data` at byte `offset` at a time; `done`
// marks the last chunk. The follower answers every chunk but the last with a
// SnapshotResponse, the last as an append (AppendResponse).
struct InstallSnapshot {
  uint32_t group = 0;
  uint64_t term = 0;
  std::string from;
  std::string to;
  uint64_t snapshot_index = 0;
  uint64_t snapshot_term = 0;
  std::vector<std::string> voters;  // configuration as of snapshot_index
  std::string data;                 // the chunk
  uint64_t offset = 0;              // of the chunk within the snapshot
  bool done = true;                 // the chunk ends the snapshot
  std::vector<std::string> learners = {};  // configuration as of snapshot_index
};

// The answer to a chunk of InstallSnapshot: the byte of snapshot_index the
// follower expects next (0: start again, e.g. after the follower restarted).
struct SnapshotResponse {
  uint32_t group = 0;
  uint64_t term = 0;
  std::string from;
  std::string to;
  uint64_t snapshot_index = 0;
  uint64_t next_offset = 0;
};

// The leader tells the target of a leadership transfer to start an election now.
struct TimeoutNow {
  uint32_t group = 0;
  uint64_t term = 0;
  std::string from;
  std::string to;
};

using RaftMessage = std::variant<VoteRequest, VoteResponse, AppendRequest, AppendResponse, Heartbeat, HeartbeatResponse,
                                 InstallSnapshot, TimeoutNow, SnapshotResponse>;

// What only a leader sends: appends, heartbeats, snapshots, a hand-over.
inline bool sent_by_leader(const RaftMessage& m) {
  return std::holds_alternative<AppendRequest>(m) || std::holds_alternative<Heartbeat>(m) ||
         std::holds_alternative<InstallSnapshot>(m) || std::holds_alternative<TimeoutNow>(m);
}

inline uint32_t group_of(const RaftMessage& m) {
  return std::visit([](const auto& x) { return x.group; }, m);
}
inline uint64_t term_of(const RaftMessage& m) {
  return std::visit([](const auto& x) { return x.term; }, m);
}
inline const std::string& sender_of(const RaftMessage& m) {
  return std::visit([](const auto& x) -> const std::string& { return x.from; }, m);
}
inline const std::string& receiver_of(const RaftMessage& m) {
  return std::visit([](const auto& x) -> const std::string& { return x.to; }, m);
}

// An upper bound of a message's encoded size, cheap to compute: what a host
// needs to split its messages over frames.
inline size_t encoded_size_bound(const RaftMessage& m) {
  constexpr size_t kFixed = 64;  // type, group, term, the numbers and flags
  size_t bytes = kFixed + sender_of(m).size() + receiver_of(m).size();
  if (const auto* a = std::get_if<AppendRequest>(&m)) {
    for (const auto& e : a->entries) {
      bytes += kFixed + e.data.size();
      for (const auto& v : e.voters) bytes += 8 + v.size();
    }
  } else if (const auto* s = std::get_if<InstallSnapshot>(&m)) {
    bytes += s->data.size();
    for (const auto& v : s->voters) bytes += 8 + v.size();
  }
  return bytes;
}

}  // namespace mesh
