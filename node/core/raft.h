// RaftGroup: one Raft consensus group -- the replicated log of one partition
// -- as a sans-IO state machine (Raft paper + Ongaro's thesis). A node hosts
// one group per partition it replicates, each named by the partition id.
// The group reads no clock (time arrives as now_ms), draws randomness only
// from Random, never throws, and does no I/O: its output is a Ready.
//
// Roles (state x event -> action):
//   follower, pre-candidate, candidate: election timeout, if it may   -> pre-candidate
//   pre-candidate: pre-votes of a majority at term+1                  -> candidate
//   candidate:     votes of a majority                                 -> leader (appends a no-op)
//   (pre-)candidate: rejections of a majority                          -> follower
//   any:           a message of a higher term (not pre-vote traffic)   -> follower of that term
//   (pre-)candidate: AppendEntries/InstallSnapshot of its term         -> follower of the sender
//   leader:        no answer from a majority within an election timeout -> follower  (CheckQuorum)
//   leader:        its own removal from the configuration commits      -> follower
//   follower:      TimeoutNow from its leader                          -> candidate (skips pre-vote)
//
// Elections. The election timeout is drawn from [election_timeout_ms,
// 2 * election_timeout_ms) each time the timer restarts. A replica first asks
// for pre-votes at term+1 without changing its own term or anyone else's; only
// when a majority would vote for it does it start the real election. A
// replica that heard from a current leader less than an election timeout ago
// (a leader always counts itself) ignores vote requests of higher terms
// (leader stickiness) unless they follow a TimeoutNow. Together with PreVote
// this keeps a replica coming back from a partition from disrupting a healthy
// leader. A vote is granted at most once per term, only to a candidate whose
// log is at least as up to date, and never while a leader of the term is
// known.
//
// Replication. The leader sends AppendEntries anchored at (prev_index,
// prev_term); a follower whose log does not match rejects with a hint (its
// term at prev_index and the first index it holds of that term, or its log's
// end) so the leader skips a whole term per round trip. A follower in probe
// state gets one append at a time; once an append succeeds it is in replicate
// state and gets up to max_inflight pipelined appends of at most
// max_entries_per_append entries and max_append_bytes of entry data each
// (a single larger entry goes alone). A follower that needs compacted
// entries gets InstallSnapshot. Proposals made between two take_ready() calls
// travel together. A follower learns the commit index from the next append,
// or from a heartbeat (capped at what it is known to hold).
//
// Snapshots. After applying up to index, the host may call compact(index,
// data): the log drops entries up to index and keeps the snapshot point
// (index, term, configuration) and `data`, which it streams to a follower
// that needs a compacted entry: InstallSnapshot chunks of at most
// snapshot_chunk_bytes, one at a time, each answered by a SnapshotResponse
// naming the byte expected next, so a lost chunk (or a restart on either
// side) resumes where the follower stands, and a follower of any speed is at
// most one chunk behind. A follower holds the chunks of one snapshot; when
// the last arrives, if its log holds the snapshot's last entry it only
// advances its commit index; otherwise it drops its whole log and hands the
// snapshot out in Ready.
//
// Commit. An index is committed when a majority of voters hold it AND its
// entry is of the leader's current term (so entries of earlier terms commit
// only under a later one: Figure 8 of the Raft paper); a new leader therefore
// appends a no-op first. The leader counts itself only while it is a voter.
//
// Membership (thesis 4.1): one server added or removed at a time, as a
// kConfig entry holding the whole new voter set. A replica uses the newest
// configuration in its log, committed or not; truncating the entry reverts
// it. A leader accepts a change only once an entry of its own term has
// committed and the previous change has committed (kBusy otherwise), so two
// majorities never coexist. A leader that removed itself keeps leading
// (without counting itself) until the removal commits, then steps down. A
// replica that is not a voter never starts an election -- except while its
// own removal is uncommitted (thesis 4.2.2): if the leader that removed
// itself loses its quorum first, its log may be the only one that can win,
// and it must lead again to commit the removal.
//
// Lost disks. Votes and acknowledgements live on the disk, so a replica id
// that has voted or acknowledged must never answer again from an empty disk.
// A replica whose disk is lost comes back under a NEW replica id (the host
// appends a disk incarnation to its node id, e.g. "n2#2"): the leader removes
// the old id and adds the new one, one change at a time, and catches the new
// replica up with a snapshot and the log. To the group the old id is a replica
// that failed for good, which Raft tolerates while a majority of every
// configuration keeps its disk; messages still addressed to it are dropped
// (step() ignores messages for another id). Re-using the old id is unsafe
// even after its removal has committed: a lagging replica whose configuration
// still names the old id could win an election with the wiped replica's
// forgotten vote and overwrite committed entries. An empty replica knows no
// configuration, so it never campaigns before a leader has reached it.
//
// Leadership transfer. transfer_leadership(to): the leader refuses proposals
// (kBusy), brings `to` up to date, then sends TimeoutNow; `to` campaigns at
// once. The transfer is abandoned after an election timeout.
//
// Read index. read_index(): the leader waits until an entry of its term has
// committed, records its commit index, confirms it is still leader with a
// heartbeat round answered by a majority, then outputs ReadState(request_id,
// index); the host serves the read once it has applied index. Reads still
// pending when leadership is lost come out in Ready::failed_reads.
//
// Durability contract (the host's side of every Ready, in this order; the
// committed entries of a Ready count as applied once it is taken):
//   1. Persist, as one synced write: the snapshot (it replaces the whole
//      persisted log), then drop entries >= truncate_from, then append
//      entries, then the hard state.
//   2. Only then send the messages: a vote or an append acknowledgement must
//      never leave before what it promises is durable.
//   3. Load the snapshot into the state machine, then apply the committed
//      entries in order (each is handed out exactly once per incarnation;
//      kNoop and kConfig entries come too, for the host to skip or observe),
//      then serve read states whose index has been applied.
// compact() returns the snapshot point; the host persists it with the data
// before it drops its own copies of the entries up to it.
// Restart: construct the group from what is on disk (hard state, snapshot,
// entries) and the index the state machine has applied (at least the
// snapshot's); it comes back as a follower and hands out the committed
// entries after that index again.
//
// Invariants: the term and a term's vote never go back; commit never goes
// back and never passes the log's end; committed entries are never
// truncated; a message leaves only through a Ready whose persistence covers
// it; output order never depends on hash order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "node/core/raft_log.h"
#include "protocol/raft_messages.h"
#include "node/env/random.h"
#include "protocol/result.h"

namespace mesh {

enum class RaftRole : uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };
std::string_view role_name(RaftRole role);

struct RaftConfig {
  uint32_t group = 0;  // the partition id, stamped on every message
  uint64_t election_timeout_ms = 1000;
  uint64_t heartbeat_interval_ms = 100;  // must be below election_timeout_ms
  size_t max_entries_per_append = 64;
  size_t max_append_bytes = 4u << 20;  // entry data per append; one larger entry still goes alone
  size_t max_inflight = 8;  // unacknowledged appends per follower in replicate state
  size_t snapshot_chunk_bytes = 1u << 20;  // snapshot data per InstallSnapshot
};

// What a replica finds on its disk when it starts.
struct RaftDisk {
  HardState hard_state;
  Snapshot snapshot;              // the snapshot point; index 0 when never compacted
  std::vector<LogEntry> entries;  // contiguous, after snapshot.meta.index
  uint64_t applied_index = 0;     // how far the host's state machine has applied (>= snapshot index)

  // The disk of a founding member of a new group: configuration `voters` at index 0.
  static RaftDisk founding(std::vector<std::string> voters);
  // An empty disk: a replica that waits to be added and caught up by a leader.
  static RaftDisk empty() { return {}; }
};

struct ReadState {
  uint64_t request_id = 0;
  uint64_t index = 0;  // serve the read once the state machine has applied this index
  bool operator==(const ReadState&) const = default;
};

// Everything the group asks its host to do; see the durability contract above.
struct Ready {
  std::optional<Snapshot> snapshot;       // install: persist it, then load it into the state machine
  std::optional<uint64_t> truncate_from;  // drop persisted entries with index >= this first
  std::vector<LogEntry> entries;          // then append these
  std::optional<HardState> hard_state;    // then persist this (set only when changed)
  std::vector<RaftMessage> messages;      // send only after the writes above are durable
  // The writes above must be synced before the messages go: entries, a
  // snapshot, a truncation, or a new term or vote. A commit index alone
  // need not be: a replica that loses it learns it again from its leader.
  bool must_sync = false;
  // The leader's messages in `messages` may leave before the writes above
  // are durable: it leads with the term its disk holds and commits only
  // with another voter's acknowledgement, which comes after this write.
  // Never for a lone voter, which commits its unwritten entries at once.
  bool messages_may_precede_sync = false;
  std::vector<LogEntry> committed;        // apply in order
  std::vector<ReadState> read_states;     // reads confirmed linearizable at their index
  std::vector<uint64_t> failed_reads;     // read requests dropped: leadership was lost

  bool empty() const;
};

enum class ReplicationState : uint8_t { kProbe, kReplicate, kSnapshot };
std::string_view replication_state_name(ReplicationState state);

struct FollowerStatus {
  std::string id;
  uint64_t match_index = 0;
  uint64_t next_index = 0;
  ReplicationState state = ReplicationState::kProbe;
  bool responsive = false;  // answered this leader within the last election timeout
};

// For meshctl: everything a person needs to see about one group on one replica.
struct RaftStatus {
  uint32_t group = 0;
  std::string id;
  RaftRole role = RaftRole::kFollower;
  uint64_t term = 0;
  std::string leader;  // empty when unknown
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;  // last index handed to the host to apply
  uint64_t first_index = 0;
  uint64_t last_index = 0;
  std::vector<std::string> voters;        // sorted
  std::vector<std::string> learners;      // sorted
  std::vector<FollowerStatus> followers;  // leader only (learners included), sorted by id
  std::string transfer_target;            // leader only, empty when none
};

class RaftGroup {
 public:
  // REQUIRES: a consistent disk (entries follow the snapshot, commit within
  // the log, applied_index between the snapshot index and the commit index).
  RaftGroup(RaftConfig config, std::string self_id, Random& random, RaftDisk disk, uint64_t now_ms);

  // Runs the election timer (followers, candidates) or heartbeats, CheckQuorum
  // and the transfer deadline (leader). now_ms never goes back.
  void tick(uint64_t now_ms);
  // Campaigns at once (pre-vote first) if this replica may: a founding
  // replica that is the only voter leads without waiting out a timeout.
  void campaign(uint64_t now_ms);
  // Handles a message from another replica; messages of other groups or for
  // other replicas are ignored.
  void step(uint64_t now_ms, const RaftMessage& message);

  // Appends data to the log if this replica leads; returns its index. The
  // entry is committed once it comes out in Ready::committed at that index.
  // kNotLeader (message: the leader's id if known), kBusy during a transfer.
  Result<uint64_t> propose(std::string data);
  // What propose would answer now, without appending anything.
  Status check_accepting_proposals() const;
  // One-server configuration changes; return the index of the kConfig entry.
  // kNotLeader, kBusy (a change is uncommitted, no entry of this term has
  // committed yet, or a transfer is under way), kInvalidArgument (already a
  // voter / not a voter / would remove the last voter).
  // A learner receives the log but neither votes nor counts toward any
  // majority (commit, check-quorum, reads) until propose_add promotes it:
  // a replacement catches up without making the group wait for it.
  // A learner that has not answered within an election timeout is not
  // promoted (kUnavailable): a dead voter would raise the quorum.
  // propose_remove removes a voter or a learner.
  Result<uint64_t> propose_add(const std::string& id);
  Result<uint64_t> propose_add_learner(const std::string& id);
  Result<uint64_t> propose_remove(const std::string& id);
  // Hands leadership to voter `to`. kNotLeader, kInvalidArgument (not a
  // voter), kBusy (a transfer to another replica is under way),
  // kUnavailable (`to` has not answered within an election timeout: a dead
  // target would only block proposals for the length of the attempt).
  Status transfer_leadership(uint64_t now_ms, const std::string& to);
  // While standing aside this replica never campaigns (nor on a TimeoutNow):
  // its host cannot write (a full disk).
  void stand_aside(bool aside) { standing_aside_ = aside; }
  // Starts a linearizable read; its ReadState comes out in a later Ready.
  // kNotLeader (message: the leader's id if known).
  Status read_index(uint64_t now_ms, uint64_t request_id);
  // The host has a snapshot of its state machine at `index` (<= applied):
  // the log drops entries up to it. Returns the snapshot point to persist
  // with `data`; the host may then drop its persisted entries up to index.
  // kInvalidArgument when index is not in (snapshot index, applied index].
  Result<SnapshotMeta> compact(uint64_t index, std::string data);

  bool has_ready() const;
  // Everything to persist, send, apply since the last call; see the contract.
  Ready take_ready();

  RaftRole role() const { return role_; }
  uint64_t term() const { return term_; }
  const std::string& leader_id() const { return leader_; }
  // The replica leadership is being handed to (leader only), or empty.
  const std::string& transfer_target() const { return transfer_target_; }
  const std::string& id() const { return id_; }
  uint64_t commit_index() const { return commit_; }
  uint64_t applied_index() const { return applied_; }
  size_t snapshot_bytes() const { return snapshot_data_.size(); }
  // Leads, and an entry of its own term has committed: its applied state
  // holds every entry committed before it led.
  bool leads_current_term() const { return role_ == RaftRole::kLeader && committed_in_current_term(); }
  // Leads, and a majority of the voters (itself included) answered it at or
  // after `since_ms`: it was not cut off at that instant. A leader that heard
  // nobody cannot tell a silent runner from its own isolation.
  bool heard_from_quorum_since(uint64_t since_ms) const;
  // Leads (until CheckQuorum steps it down), or heard its leader within an
  // election timeout: a follower cut off keeps its old leader's name.
  bool in_leader_lease() const;
  const std::vector<std::string>& voters() const { return voters_; }
  const std::vector<std::string>& learners() const { return learners_; }
  const RaftLog& log() const { return log_; }
  RaftStatus status() const;

 private:
  // Leader's view of one follower.
  struct Progress {
    uint64_t match = 0;
    uint64_t next = 1;
    ReplicationState state = ReplicationState::kProbe;
    bool probe_sent = false;         // probe: an append is outstanding
    std::vector<uint64_t> inflight;  // replicate: last index of each unacknowledged append, oldest first
    uint64_t snapshot_index = 0;     // snapshot: the index being streamed
    uint64_t snapshot_offset = 0;    // snapshot: the byte the follower expects next
    uint64_t snapshot_sent_ms = 0;   // snapshot: when the last chunk went out
    uint64_t commit_sent = 0;    // highest commit index this follower can have learned from us
    bool recent_active = false;  // answered since the last CheckQuorum
    std::optional<uint64_t> heard_ms;  // when it last answered this leader
    uint64_t read_seq_acked = 0;
  };
  struct PendingRead {
    uint64_t request_id = 0;
    uint64_t index = 0;
    uint64_t seq = 0;  // 0: waits for an entry of this term to commit
  };

  // Messages.
  void on(const VoteRequest& m);
  void on(const VoteResponse& m);
  void on(const AppendRequest& m);
  // The progress of the follower answering, if this leader should count the
  // answer (a higher term makes it step down instead); marks it active.
  Progress* responding_follower(uint64_t term, const std::string& from);
  bool responsive(const Progress& pr) const;
  void on(const AppendResponse& m);
  void on(const Heartbeat& m);
  void on(const HeartbeatResponse& m);
  void on(const InstallSnapshot& m);
  void on(const TimeoutNow& m);
  void on(const SnapshotResponse& m);
  bool well_formed(const AppendRequest& m) const;

  // Elections.
  void tick_election();
  bool may_campaign() const;
  void start_pre_vote();
  void start_election(bool transfer);
  void send_vote_requests(bool pre_vote, bool transfer);
  void record_vote(const std::string& from, bool granted);
  bool may_vote_for(const VoteRequest& m) const;
  void become_follower(uint64_t term, const std::string& leader);
  void follow(const std::string& leader);
  void become_leader();
  void reset_election_timer();

  // Follower side of replication.
  void append_from_leader(const AppendRequest& m);
  void reject_append(const AppendRequest& m);
  // A chunk of the snapshot being received; the whole snapshot once `done`.
  std::optional<Snapshot> take_snapshot_chunk(const InstallSnapshot& m);
  void install_snapshot(Snapshot snapshot);
  void reply_append(const std::string& to, bool success, uint64_t match_index);
  void reply_stale_term(const std::string& to);

  // Leader side of replication.
  void tick_leader();
  void on_append_success(const std::string& from, Progress& pr, uint64_t match_index);
  void on_append_reject(const std::string& from, Progress& pr, const AppendResponse& m);
  bool maybe_send_append(const std::string& to, Progress& pr, bool send_if_empty);
  void send_snapshot(const std::string& to, Progress& pr);
  void send_snapshot_chunk(const std::string& to, Progress& pr);
  uint64_t last_index_within_append_limits(uint64_t prev) const;
  void send_pending_appends(bool send_if_empty);
  void tell_commit(const std::string& to, Progress& pr);
  void send_heartbeats();
  void check_quorum();
  void maybe_commit();
  void on_commit_advanced();
  Status check_config_change() const;
  Result<uint64_t> append_config(std::vector<std::string> voters, std::vector<std::string> learners);
  bool committed_in_current_term() const;
  void append_own_entry(EntryType type, std::string data);
  void sync_progress_with_config();
  void maybe_send_timeout_now(const std::string& to, const Progress& pr);
  void abort_transfer();

  // Read index.
  void start_read_rounds();
  void release_confirmed_reads();
  void fail_pending_reads();

  // Log and configuration.
  void append_entry(LogEntry entry);
  void truncate_log_from(uint64_t index);
  void adopt_config(const RaftLog::ConfigAt& config);
  bool is_voter(const std::string& id) const;
  bool is_learner(const std::string& id) const;
  size_t quorum() const { return voters_.size() / 2 + 1; }
  HardState hard_state() const { return {term_, vote_, commit_}; }
  bool hard_state_changed() const;  // since the last Ready
  // When tick next has something to do: a timer of the current role.
  uint64_t next_deadline_ms() const;

  template <typename M>
  void send(M message);

  RaftConfig config_;
  std::string id_;
  Random& random_;
  uint64_t now_ms_ = 0;

  // Persistent (through Ready).
  uint64_t term_ = 0;
  std::string vote_;
  uint64_t commit_ = 0;
  RaftLog log_;
  std::string snapshot_data_;  // the data of log_.snapshot(), to send to lagging followers
  std::optional<Snapshot> snapshot_receiving_;  // follower: the chunks of a snapshot so far

  // Volatile.
  RaftRole role_ = RaftRole::kFollower;
  std::string leader_;
  uint64_t applied_ = 0;             // last index handed out in Ready::committed
  std::vector<std::string> voters_;  // newest configuration in the log, sorted
  std::vector<std::string> learners_;  // of the same configuration, sorted
  uint64_t config_index_ = 0;        // index of the entry (or snapshot) it comes from
  uint64_t election_deadline_ms_ = 0;
  uint64_t leader_contact_ms_ = 0;     // when leader_ was last heard from
  std::map<std::string, bool> votes_;  // (pre-)candidate: answers received, by voter

  // Leader only.
  std::map<std::string, Progress> progress_;  // every voter but this replica
  uint64_t next_heartbeat_ms_ = 0;
  uint64_t next_quorum_check_ms_ = 0;
  std::string transfer_target_;
  uint64_t transfer_deadline_ms_ = 0;
  uint64_t read_seq_ = 0;
  std::vector<PendingRead> pending_reads_;  // in request order
  bool appends_pending_ = false;            // own entries not yet offered to followers
  bool standing_aside_ = false;

  // Output not yet taken.
  HardState persisted_hard_state_;
  // has_ready() found nothing, and no call that can change that came since:
  // a host asks every group on every step.
  mutable bool quiet_ = false;
  uint64_t persisted_last_ = 0;  // entries up to here have been handed out to persist
  std::optional<uint64_t> truncate_from_;
  std::optional<Snapshot> snapshot_to_install_;
  std::vector<RaftMessage> outbox_;
  std::vector<ReadState> read_states_;
  std::vector<uint64_t> failed_reads_;
  bool stepped_down_ = false;  // lost the lead since the last Ready: the host must hear of it
};

}  // namespace mesh
