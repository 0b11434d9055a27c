// NodeState's partition groups: hosting them, driving their Raft state
// machines, applying committed task ops, snapshots, and reconciling each
// led group's replica set with the ring (the rules are in node_state.h).
#include <algorithm>
#include <set>
#include <utility>

#include "node/core/assert.h"
#include "node/core/node_state.h"
#include "protocol/codec.h"
#include "protocol/limits.h"

namespace mesh {

namespace {

// How far behind the ring's preferred replica may be when leadership is
// handed to it (entries; one append carries up to 64).
constexpr uint64_t kTransferLagEntries = 64;

std::string node_of_replica(const std::string& replica_id) {
  size_t hash = replica_id.rfind('#');
  return hash == std::string::npos ? replica_id : replica_id.substr(0, hash);
}

}  // namespace

NodeState::Replica& NodeState::host(uint32_t partition, RaftDisk disk) {
  RaftConfig rc;
  rc.group = partition;
  rc.election_timeout_ms = config_.replication.election_timeout_ms;
  rc.heartbeat_interval_ms = config_.replication.heartbeat_interval_ms;
  rc.snapshot_chunk_bytes = config_.replication.snapshot_chunk_bytes;
  rc.max_append_bytes = config_.replication.max_append_bytes;
  Replica& r = replicas_[partition];
  uint64_t snapshot_index = disk.snapshot.meta.index;
  bool has_snapshot = snapshot_index > 0 || !disk.snapshot.data.empty();
  bool readable = !has_snapshot || install_snapshot(partition, r, disk.snapshot);
  r.raft = std::make_unique<RaftGroup>(rc, replica_id_, random_, std::move(disk), now_ms_);
  r.raft->stand_aside(storage_full_);
  if (!readable) halt(partition, r, snapshot_index, "its snapshot does not decode");
  return r;
}

void NodeState::found_mesh() {
  for (uint32_t p = 0; p < config_.ring.partitions; ++p) {
    RaftDisk disk = RaftDisk::founding({replica_id_});
    disk.snapshot.data = encode_snapshot(PartitionSnapshot{});
    // The founding configuration lives at the snapshot point: persist it, or
    // a restart would find a group that knows no voters.
    out_.compactions.push_back({p, disk.snapshot});
    host(p, std::move(disk)).raft->campaign(now_ms_);
  }
  count("partitions_founded", config_.ring.partitions);
}

NodeState::Replica* NodeState::replica(uint32_t partition) {
  auto it = replicas_.find(partition);
  return it == replicas_.end() ? nullptr : &it->second;
}

const NodeState::Replica* NodeState::replica(uint32_t partition) const {
  auto it = replicas_.find(partition);
  return it == replicas_.end() ? nullptr : &it->second;
}

NodeState::Replica* NodeState::led(uint32_t partition) {
  Replica* r = replica(partition);
  return r != nullptr && r->leading ? r : nullptr;
}

bool NodeState::leads(uint32_t partition) const {
  const Replica* r = replica(partition);
  return r != nullptr && r->leading;
}

bool NodeState::halted(uint32_t partition) const {
  const Replica* r = replica(partition);
  return r != nullptr && r->halted.has_value();
}

std::vector<uint32_t> NodeState::led_partitions() const {
  std::vector<uint32_t> out;
  for (const auto& [p, r] : replicas_) {
    if (r.leading) out.push_back(p);
  }
  return out;
}

const TaskTable* NodeState::table(uint32_t partition) const {
  const Replica* r = replica(partition);
  return r == nullptr ? nullptr : &r->table;
}

const RaftGroup* NodeState::group(uint32_t partition) const {
  const Replica* r = replica(partition);
  return r == nullptr ? nullptr : r->raft.get();
}

const TaskRecord* NodeState::find(const std::string& id) const {
  auto it = task_partition_.find(id);
  if (it == task_partition_.end()) return nullptr;
  return replicas_.at(it->second).table.find(id);
}

void NodeState::unindex_task(const std::string& id, uint32_t partition, bool purged) {
  jobs_.forget(TaskKey{partition, id}, purged);
  auto [begin, end] = task_partition_.equal_range(id);
  for (auto it = begin; it != end; ++it) {
    if (it->second == partition) {
      task_partition_.erase(it);
      return;
    }
  }
}

bool NodeState::propose(uint32_t partition, const TaskOp& op) {
  Replica* r = led(partition);
  if (r == nullptr) return false;
  if (!r->raft->check_accepting_proposals().ok()) {
    count("proposals_refused");
    return false;
  }
  std::string encoded = encode_op(op);
  if (!config_.replication.batch_ops) {
    bool appended = r->raft->propose(std::move(encoded)).ok();
    MESH_ASSERT(appended, "a group accepting proposals refused one");
    return true;
  }
  if (r->batched_bytes + encoded.size() > config_.replication.batch_bytes) propose_batch(partition, *r);
  if (r->batched_ops.empty()) partitions_with_batched_ops_.push_back(partition);
  r->batched_bytes += encoded.size();
  r->batched_ops.push_back(std::move(encoded));
  return true;
}

void NodeState::propose_batch(uint32_t partition, Replica& r) {
  if (r.batched_ops.empty()) return;
  // Nothing steps the group between propose() and here within one step but
  // a tick or a hand-over: an op refused now is lost as if its leader had
  // been deposed after appending it, which every proposer already survives.
  count(r.raft->propose(encode_op_batch(r.batched_ops)).ok() ? "op_batches_proposed" : "proposals_refused");
  r.batched_ops.clear();
  r.batched_bytes = 0;
  std::erase(partitions_with_batched_ops_, partition);
}

Status NodeState::hand_over(uint32_t partition, Replica& r, const std::string& to) {
  propose_batch(partition, r);  // a group handing over refuses proposals: this step's go first
  return r.raft->transfer_leadership(now_ms_, to);
}

void NodeState::propose_batched_ops() {
  for (uint32_t partition : std::exchange(partitions_with_batched_ops_, {})) {
    Replica* r = replica(partition);
    if (r != nullptr) propose_batch(partition, *r);
  }
}

std::string NodeState::address_of_replica(const std::string& replica_id) const {
  auto member = membership_.find(node_of_replica(replica_id));
  return member ? member->address : std::string();
}

bool NodeState::node_dead(const std::string& node_id) const { return membership_.down(node_id); }

std::string NodeState::leader_address(uint32_t partition) const {
  const Replica* r = replica(partition);
  if (r == nullptr || r->raft->leader_id().empty()) return {};
  return address_of_replica(r->raft->leader_id());
}

// --- driving the groups ------------------------------------------------------------

void NodeState::on_peer(const RaftBatch& m) {
  for (const auto& message : m.messages) {
    uint32_t g = group_of(message);
    if (g >= config_.ring.partitions || receiver_of(message) != replica_id_) {
      count("raft_messages_misaddressed");
      continue;
    }
    Replica* r = replica(g);
    // A leader reaching this replica for the first time: join with an empty
    // disk and let it catch this replica up.
    if (r == nullptr) r = &host(g, RaftDisk::empty());
    if (r->halted) {
      count("raft_messages_to_halted");
      continue;
    }
    if (storage_full_ && refuse_for_full_disk(message)) continue;
    r->raft->step(now_ms_, message);
  }
}

void NodeState::tick_groups() {
  for (auto& [p, r] : replicas_) {
    if (r.halted) continue;
    r.raft->tick(now_ms_);
    watch_quorum(p, r);
  }
}

// Three election timeouts: longer than an election after a leader's death
// (a timeout, randomized up to two, and a vote round), so a failover that
// goes as it should is not reported.
constexpr uint64_t kQuorumLostAfterElections = 3;

std::string NodeState::unavailable_reason(uint32_t partition) const {
  const Replica* r = replica(partition);
  if (r != nullptr && r->quorum_lost_reported) {
    return "quorum lost for partition " + std::to_string(partition) + ": no leader known for " +
           std::to_string(now_ms_ - r->leaderless_since_ms.value_or(now_ms_)) + " ms";
  }
  return "no leader of partition " + std::to_string(partition) + " answered within " +
         std::to_string(config_.replication.request_deadline_ms) + " ms";
}

void NodeState::watch_quorum(uint32_t partition, Replica& r) {
  // Runs for every group on every step: the subject is spelled only for an event.
  auto subject = [partition] { return "partition " + std::to_string(partition); };
  if (r.raft->in_leader_lease()) {
    if (r.quorum_lost_reported) {
      event("quorum_regained", subject(),
            "leader " + r.raft->leader_id() + " after " + std::to_string(now_ms_ - *r.leaderless_since_ms) + " ms");
    }
    r.leaderless_since_ms.reset();
    r.quorum_lost_reported = false;
    return;
  }
  if (!r.leaderless_since_ms) r.leaderless_since_ms = now_ms_;
  uint64_t leaderless_ms = now_ms_ - *r.leaderless_since_ms;
  if (r.quorum_lost_reported || leaderless_ms < kQuorumLostAfterElections * config_.replication.election_timeout_ms) {
    return;
  }
  r.quorum_lost_reported = true;
  count("quorum_losses_seen");
  event("quorum_lost", subject(), "no leader known for " + std::to_string(leaderless_ms) + " ms: writes to it stall");
}

void NodeState::drain_groups() {
  propose_batched_ops();
  for (auto& [p, r] : replicas_) {
    if (!r.halted && r.raft->has_ready()) handle_ready(p, r);
  }
}

void NodeState::handle_ready(uint32_t partition, Replica& r) {
  Ready ready = r.raft->take_ready();
  if (ready.snapshot && !install_snapshot(partition, r, *ready.snapshot)) {
    // Neither persisted nor acknowledged: the leader never counts this
    // replica as holding what it could not load.
    return halt(partition, r, ready.snapshot->meta.index, "the snapshot received does not decode");
  }
  for (const auto& entry : ready.committed) {
    apply_entry(partition, r, entry);
    if (r.halted) return;
  }
  for (auto& message : ready.messages) {
    std::string address = address_of_replica(receiver_of(message));
    if (address.empty()) {
      count("raft_messages_unroutable");
      continue;
    }
    RaftOutbox& box = raft_out_[address];
    (ready.messages_may_precede_sync && sent_by_leader(message) ? box.early : box.after_sync).push_back(std::move(message));
  }
  ready.messages.clear();
  ready.committed.clear();
  for (const auto& read : ready.read_states) on_read_round(partition, read.request_id, true);
  for (uint64_t round : ready.failed_reads) on_read_round(partition, round, false);
  ready.read_states.clear();
  ready.failed_reads.clear();
  if (ready.snapshot || ready.truncate_from || !ready.entries.empty() || ready.hard_state) {
    out_.raft_writes.push_back({partition, std::move(ready)});
  }
  bool leading = r.raft->leads_current_term();
  if (leading && !r.leading) lead_start(partition, r);
  if (!leading && r.leading) lead_end(partition, r);
  maybe_compact(partition, r);
}

void NodeState::apply_entry(uint32_t partition, Replica& r, const LogEntry& entry) {
  r.applied_bytes_since_snapshot += entry.data.size();
  if (entry.type != EntryType::kNormal) return;
  auto ops = decode_ops(entry.data);
  if (!ops.ok()) {
    count("log_entries_undecodable");
    return halt(partition, r, entry.index, "log entry does not decode: " + ops.status().message());
  }
  for (const TaskOp& op : ops.value()) apply_op(partition, r, op);
}

void NodeState::apply_op(uint32_t partition, Replica& r, const TaskOp& op) {
  if (const auto* purge = std::get_if<OpPurge>(&op)) return apply_purge(partition, r, *purge);
  if (op_task_id(op).empty()) return apply_multi_task_op(partition, r, op);
  Status s = r.table.apply(op);
  on_applied(partition, r, op, s);
}

bool NodeState::install_snapshot(uint32_t partition, Replica& r, const Snapshot& snapshot) {
  auto decoded = decode_snapshot(snapshot.data);
  if (!decoded.ok()) {
    count("snapshots_undecodable");
    return false;
  }
  for (const auto& [id, record] : r.table.records()) unindex_task(id, partition);
  r.table = TaskTable{};
  PartitionSnapshot& content = decoded.value();
  for (auto& record : content.records) {
    task_partition_.emplace(record.spec.id, partition);
    jobs_.note(TaskKey{partition, record.spec.id}, record.txn);
    r.table.restore(std::move(record));
  }
  r.table.restore_transactions(std::move(content.prepared), std::move(content.decisions));
  r.applied_bytes_since_snapshot = 0;
  count("snapshots_installed");
  return true;
}

// Nothing is ever skipped: a replica that cannot read what it holds stops
// serving the partition instead of serving less of it. It stays halted
// until the process restarts (an operator wipes the replica, or fixes the
// cause, first); its group carries on with the other replicas.
void NodeState::halt(uint32_t partition, Replica& r, uint64_t index, std::string reason) {
  if (r.leading) lead_end(partition, r);
  r.halted = PartitionHalt{partition, index, std::move(reason)};
  std::vector<uint64_t> rounds;
  for (const auto& [round, reads] : read_rounds_) {
    if (reads.first == partition) rounds.push_back(round);
  }
  for (uint64_t round : rounds) on_read_round(partition, round, false);
  out_.halts.push_back(*r.halted);
  count("partitions_halted");
}

std::string NodeState::successor_of(const Replica& r) const {
  RaftStatus status = r.raft->status();
  const FollowerStatus* best = nullptr;
  for (const auto& f : status.followers) {
    bool voter = std::find(status.voters.begin(), status.voters.end(), f.id) != status.voters.end();
    // A member that left (draining too) would only hand it back.
    auto member = membership_.find(node_of_replica(f.id));
    bool staying = member && (member->state == MemberState::kAlive || member->state == MemberState::kSuspect);
    if (voter && staying && f.responsive && (best == nullptr || f.match_index > best->match_index)) best = &f;
  }
  return best == nullptr ? "" : best->id;
}

void NodeState::shed_leadership() {
  for (auto& [p, r] : replicas_) {
    if (r.halted || r.raft->role() != RaftRole::kLeader || !r.raft->transfer_target().empty()) continue;
    std::string successor = successor_of(r);
    if (successor.empty() || !hand_over(p, r, successor).ok()) continue;
    count(storage_full_ ? "leadership_shed_storage_full" : "leaderships_handed_over_draining");
  }
}

bool NodeState::leads_what_it_could_hand_over() const {
  return std::any_of(replicas_.begin(), replicas_.end(), [&](const auto& entry) {
    const Replica& r = entry.second;
    return !r.halted && r.raft->role() == RaftRole::kLeader && !successor_of(r).empty();
  });
}

// Unanswered, an append or snapshot leaves this replica behind; the rest of
// its group commits without it, and it catches up once space returns.
bool NodeState::refuse_for_full_disk(const RaftMessage& message) {
  const auto* append = std::get_if<AppendRequest>(&message);
  bool writes = (append != nullptr && !append->entries.empty()) || std::holds_alternative<InstallSnapshot>(message);
  if (writes) count("raft_writes_refused_storage_full");
  return writes;
}

bool NodeState::holds_a_majority_together() const {
  // Alone, nobody could take the replicas over: waiting would not help.
  bool others_alive = !membership_.members_where([&](MemberState s, const LoadDigest&) {
                                    return s == MemberState::kAlive;
                                  }).empty();
  if (!others_alive) return false;
  for (const auto& [p, r] : replicas_) {
    if (r.halted) continue;
    const std::vector<std::string>& voters = r.raft->voters();
    if (std::find(voters.begin(), voters.end(), replica_id_) == voters.end()) continue;
    size_t others_live = 0;
    for (const auto& v : voters) {
      if (v == replica_id_) continue;
      auto member = membership_.find(node_of_replica(v));
      others_live += member && (member->state == MemberState::kAlive || member->state == MemberState::kSuspect);
    }
    if (others_live < voters.size() / 2 + 1) return true;
  }
  return false;
}

// Each destination's messages go in as many RaftBatch frames as keep each
// well under the frame limit. The messages a leader may send before the
// turn's sync (Ready::messages_may_precede_sync) travel in batches of their
// own (may_leave_before_sync); the rest are held until the sync.
void NodeState::send_raft_batches() {
  for (auto& [address, box] : raft_out_) {
    send_raft_batches(address, box.early, /*after_sync=*/false);
    send_raft_batches(address, box.after_sync, /*after_sync=*/true);
  }
}

void NodeState::send_raft_batches(const std::string& address, std::vector<RaftMessage>& messages, bool after_sync) {
  RaftBatch batch{config_.node_id, {}};
  size_t bytes = 0;
  for (auto& message : messages) {
    size_t size = encoded_size_bound(message);
    bool full = bytes + size > limits::kRaftBatchBytes || batch.messages.size() == limits::kMaxRaftMessages;
    if (full && !batch.messages.empty()) {
      send(address, std::exchange(batch, RaftBatch{config_.node_id, {}}), after_sync);
      bytes = 0;
    }
    bytes += size;
    batch.messages.push_back(std::move(message));
  }
  if (!batch.messages.empty()) send(address, std::move(batch), after_sync);
}

// A snapshot re-encodes and rewrites the whole partition, so it waits for
// snapshot_every entries and for at least half its predecessor's size in
// applied log: the bytes written for snapshots then stay within twice the
// bytes of the log, however large the partition, and the log kept in memory
// within half a snapshot.
void NodeState::maybe_compact(uint32_t partition, Replica& r) {
  uint64_t applied = r.raft->applied_index();
  if (applied - r.raft->log().snapshot().index < config_.replication.snapshot_every) return;
  if (r.applied_bytes_since_snapshot < r.raft->snapshot_bytes() / 2) return;
  std::vector<const TaskRecord*> records;
  records.reserve(r.table.records().size());
  for (const auto& [id, record] : r.table.records()) records.push_back(&record);
  std::string data = encode_snapshot(records, r.table.prepared(), r.table.decisions());
  auto meta = r.raft->compact(applied, data);
  if (!meta.ok()) return;
  r.applied_bytes_since_snapshot = 0;
  out_.compactions.push_back({partition, Snapshot{meta.value(), std::move(data)}});
  count("snapshots_taken");
}

// --- leadership ----------------------------------------------------------------------

void NodeState::lead_start(uint32_t partition, Replica& r) {
  r.leading = true;
  reconcile_pending_ = true;
  count("leaderships_gained");
  event("leader_gained", "partition " + std::to_string(partition), "term " + std::to_string(r.raft->term()));
  // Where runs here sent renewals while another node led is history now;
  // once this node is deposed, the search for the leader starts afresh.
  leader_guesses_.erase(partition);
  std::set<std::string> runners;
  for (const auto& [id, record] : r.table.records()) {
    if (record.state == TaskState::kPending) {
      ready_.push(TaskKey{partition, id}, record.spec.priority, not_before_on_this_clock(record), now_ms_);
    } else if (record.state == TaskState::kLeased) {
      // Its deadlines were set on another clock (or before a restart): the
      // runner gets a full lease and the attempt its full timeout from now.
      enter_leases(partition, record, {}, false);
      for (const std::string& owner : {record.lease_owner, record.backup.owner}) {
        if (!owner.empty() && owner != config_.node_id) runners.insert(owner);
      }
    } else if (record.state == TaskState::kBlocked) {
      deps_->on_record(partition, record);
    }
  }
  // Runners elsewhere hear of the new leader at once rather than search for
  // it while their leases run.
  for (const auto& runner : runners) {
    auto member = membership_.find(runner);
    if (member && !member->address.empty()) send(member->address, LeaderHints{config_.address, {leader_hint(partition)}});
  }
  if (!runners.empty()) count("leader_announcements", runners.size());
  txns_->on_lead_start(partition, r.table);
}

void NodeState::lead_end(uint32_t partition, Replica& r) {
  r.leading = false;
  count("leaderships_lost");
  event("leader_lost", "partition " + std::to_string(partition), "term " + std::to_string(r.raft->term()));
  leader_guesses_.erase(partition);
  for (const auto& [id, record] : r.table.records()) {
    const TaskKey key{partition, id};
    ready_.remove(key);
    auto [first, end] = leases_of(key);
    leases_.erase(first, end);
    leasing_.erase(key);
    if (grant_of_task_.count(key)) settle_grants(key, record);
  }
  // Results proposed for runners elsewhere may never commit: they resend
  // to the next leader, which commits or acknowledges them.
  std::erase_if(result_waits_, [&](const auto& wait) { return wait.first.task.partition == partition; });
  fail_submit_parts(partition);
  txns_->on_lead_end(partition);
  deps_->on_lead_end(partition);
  release_intent_reads(partition, nullptr);
  // Proposals nobody waits for any more (their part was answered) no longer
  // count toward the backpressure limit.
  std::erase_if(submits_in_flight_, [&](const TaskKey& key) { return !submit_waits_.count(key); });
  // Waits and cancels served for this partition answer now; their origin
  // asks the new leader.
  auto covers = [&](const std::vector<uint32_t>& covered) {
    return std::find(covered.begin(), covered.end(), partition) != covered.end();
  };
  for (auto& [id, w] : waiters_) {
    if (covers(w.covered)) completed_waiters_.insert(id);
  }
  std::vector<uint64_t> cancels;
  for (const auto& [id, c] : cancel_waits_) {
    if (covers(c.covered)) cancels.push_back(id);
  }
  for (uint64_t id : cancels) {
    CancelWait& c = cancel_waits_.at(id);
    for (auto it = cancels_by_task_.begin(); it != cancels_by_task_.end();) {
      it = it->second.first == id ? cancels_by_task_.erase(it) : std::next(it);
    }
    for (auto& outcome : c.outcomes) {
      // Still waiting for its op: the origin asks the next leader.
      bool open = c.retry ? outcome.state == TaskState::kFailed : outcome.state != TaskState::kCancelled;
      if (outcome.code == ErrorCode::kOk && open) outcome.code = ErrorCode::kNotLeader;
    }
    CancelWait answered = std::move(c);
    answered.covered.clear();
    cancel_waits_.erase(id);
    answer_outcomes(std::move(answered));
  }
}

// --- replica sets follow the ring ----------------------------------------------------

void NodeState::reconcile() {
  if (now_ms_ < next_reconcile_ms_) return;
  next_reconcile_ms_ = now_ms_ + config_.replication.reconcile_interval_ms;
  // A pass costs a scan of the membership and maybe a new ring: only when
  // the ring may have moved (and the live set has held still for an
  // interval, so a wave of joins costs one pass), a group still had work
  // left, or now and then as a safety net.
  if (membership_.live_version() != seen_live_version_) {
    seen_live_version_ = membership_.live_version();
    live_version_seen_ms_ = now_ms_;
  }
  bool ring_moved = seen_live_version_ != reconciled_live_version_ &&
                    now_ms_ - live_version_seen_ms_ >= config_.replication.reconcile_interval_ms;
  if (!ring_moved && !reconcile_pending_ && now_ms_ < next_full_reconcile_ms_) return;
  reconciled_live_version_ = membership_.live_version();
  next_full_reconcile_ms_ = now_ms_ + 25 * config_.replication.reconcile_interval_ms;
  reconcile_pending_ = false;
  std::map<std::string, std::string> live_replicas;  // node id -> replica id
  for (const auto& m : membership_.members_where([](MemberState s, const LoadDigest&) {
         return s == MemberState::kAlive || s == MemberState::kSuspect;
       })) {
    live_replicas[m.id] = m.replica_id;
  }
  for (auto& [p, r] : replicas_) {
    if (r.leading && !reconcile_group(p, r, live_replicas)) reconcile_pending_ = true;
  }
}

bool NodeState::reconcile_group(uint32_t partition, Replica& r,
                                const std::map<std::string, std::string>& live_replicas) {
  // What an operator said is gone for good goes first, even below R voters:
  // the ring cannot replace it (too few nodes), and it must not count toward
  // the majority any longer.
  for (const auto& v : r.raft->voters()) {
    if (!removed_by_operator_.count(v) || r.raft->voters().size() <= 1) continue;
    if (r.raft->propose_remove(v).ok()) {
      count("replicas_removed_by_operator");
      event("replica_removed", "partition " + std::to_string(partition), v + " (by an operator)");
    }
    return false;
  }
  for (const auto& l : r.raft->learners()) {
    if (!removed_by_operator_.count(l)) continue;
    if (r.raft->propose_remove(l).ok()) count("learners_removed");
    return false;
  }
  const std::vector<std::string>& want_nodes = partition_table().replicas(partition);
  if (want_nodes.empty()) return true;
  std::vector<std::string> want;
  for (const auto& node : want_nodes) {
    if (node == config_.node_id) {
      want.push_back(replica_id_);
      continue;
    }
    auto it = live_replicas.find(node);
    if (it == live_replicas.end() || it->second.empty()) return false;  // its replica id has not reached this node yet
    want.push_back(it->second);
  }
  const std::vector<std::string>& voters = r.raft->voters();
  const std::vector<std::string>& learners = r.raft->learners();
  auto has = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  RaftStatus status = r.raft->status();
  // Nearly caught up (within what one round of appends carries), answering
  // this leader, and alive in the gossip view: a replica that died after
  // catching up must neither raise the quorum nor be handed the lead.
  auto caught_up = [&](const std::string& id) {
    auto member = membership_.find(node_of_replica(id));
    if (!member || member->state != MemberState::kAlive) return false;
    for (const auto& f : status.followers) {
      if (f.id == id) return f.responsive && f.match_index + kTransferLagEntries >= status.last_index;
    }
    return false;
  };
  // Add before removing: the group never has fewer replicas than it needs.
  // A new replica joins as a learner and becomes a voter once caught up, so
  // the group's majority never waits on a replica that holds nothing yet (a
  // replica that cannot catch up never blocks commits). A suspect is never
  // added.
  for (const auto& w : want) {
    if (has(voters, w)) continue;
    if (!has(learners, w)) {
      auto member = membership_.find(node_of_replica(w));
      if (!member || member->state != MemberState::kAlive) return false;
      if (r.raft->propose_add_learner(w).ok()) count("learners_added");
      return false;
    }
    if (caught_up(w) && r.raft->propose_add(w).ok()) {
      count("replicas_added");
      event("replica_added", "partition " + std::to_string(partition), w);
    }
    return false;
  }
  for (const auto& l : learners) {
    if (has(want, l)) continue;
    if (r.raft->propose_remove(l).ok()) count("learners_removed");
    return false;
  }
  // Remove only down to R voters: a replica the ring dropped (dead, or cut
  // off) still counts toward the majority until a replacement has joined.
  // Shrinking instead would let the loss of one more disk (of a group of
  // two) take the partition down for good.
  for (const auto& v : voters) {
    if (voters.size() <= config_.ring.replicas) break;
    if (has(want, v)) continue;
    if (r.raft->propose_remove(v).ok()) {
      count("replicas_removed");
      event("replica_removed", "partition " + std::to_string(partition), v);
    }
    return false;
  }
  if (want.front() == replica_id_) return true;
  // Hand over once the preferred replica is nearly caught up: the group
  // refuses writes while a transfer catches it up the rest of the way, so
  // waiting for an exact match would wait for ever under steady writes.
  if (caught_up(want.front()) && status.transfer_target.empty()) {
    if (hand_over(partition, r, want.front()).ok()) count("leadership_transfers");
  }
  return false;  // done once the preferred replica leads
}

}  // namespace mesh
