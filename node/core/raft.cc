#include "node/core/raft.h"

#include <algorithm>
#include <cstddef>
#include <functional>
#include <utility>

#include "node/core/assert.h"

namespace mesh {

std::string_view role_name(RaftRole role) {
  switch (role) {
    case RaftRole::kFollower: return "follower";
    case RaftRole::kPreCandidate: return "pre-candidate";
    case RaftRole::kCandidate: return "candidate";
    case RaftRole::kLeader: return "leader";
  }
  return "unknown";
}

std::string_view replication_state_name(ReplicationState state) {
  switch (state) {
    case ReplicationState::kProbe: return "probe";
    case ReplicationState::kReplicate: return "replicate";
    case ReplicationState::kSnapshot: return "snapshot";
  }
  return "unknown";
}

RaftDisk RaftDisk::founding(std::vector<std::string> voters) {
  std::sort(voters.begin(), voters.end());
  RaftDisk disk;
  disk.snapshot.meta.voters = std::move(voters);
  return disk;
}

bool Ready::empty() const {
  return !snapshot && !truncate_from && entries.empty() && !hard_state && messages.empty() && committed.empty() &&
         read_states.empty() && failed_reads.empty();
}

RaftGroup::RaftGroup(RaftConfig config, std::string self_id, Random& random, RaftDisk disk, uint64_t now_ms)
    : config_(config), id_(std::move(self_id)), random_(random), now_ms_(now_ms) {
  MESH_ASSERT(config_.election_timeout_ms > 0 && config_.heartbeat_interval_ms > 0 &&
                  config_.heartbeat_interval_ms < config_.election_timeout_ms,
              "raft timers: 0 < heartbeat_interval_ms < election_timeout_ms");
  MESH_ASSERT(config_.max_entries_per_append > 0 && config_.max_inflight > 0 && config_.snapshot_chunk_bytes > 0,
              "raft limits must be > 0");
  MESH_ASSERT(disk.entries.empty() || disk.entries.front().index == disk.snapshot.meta.index + 1,
              "persisted entries must follow the snapshot");
  term_ = disk.hard_state.term;
  vote_ = disk.hard_state.vote;
  log_ = RaftLog(std::move(disk.snapshot.meta), std::move(disk.entries));
  snapshot_data_ = std::move(disk.snapshot.data);
  commit_ = std::max(disk.hard_state.commit, log_.snapshot().index);
  MESH_ASSERT(commit_ <= log_.last_index(), "persisted commit beyond the persisted log");
  applied_ = std::max(disk.applied_index, log_.snapshot().index);
  MESH_ASSERT(applied_ <= commit_, "applied beyond commit");
  adopt_config(log_.config_at(log_.last_index()));
  persisted_hard_state_ = disk.hard_state;
  persisted_last_ = log_.last_index();
  reset_election_timer();
}

// --- public API ----------------------------------------------------------------

void RaftGroup::tick(uint64_t now_ms) {
  now_ms_ = std::max(now_ms_, now_ms);
  // The host ticks every group on every step: a tick before any deadline
  // changes nothing, and leaves the group quiet.
  if (now_ms_ < next_deadline_ms()) return;
  quiet_ = false;
  if (role_ == RaftRole::kLeader) {
    tick_leader();
  } else {
    tick_election();
  }
}

void RaftGroup::campaign(uint64_t now_ms) {
  now_ms_ = std::max(now_ms_, now_ms);
  quiet_ = false;
  if (role_ != RaftRole::kLeader && may_campaign()) start_pre_vote();
}

void RaftGroup::step(uint64_t now_ms, const RaftMessage& message) {
  now_ms_ = std::max(now_ms_, now_ms);
  if (group_of(message) != config_.group || receiver_of(message) != id_) return;
  quiet_ = false;
  std::visit([this](const auto& m) { on(m); }, message);
}

Result<uint64_t> RaftGroup::propose(std::string data) {
  if (Status s = check_accepting_proposals(); !s.ok()) return s;
  quiet_ = false;
  append_own_entry(EntryType::kNormal, std::move(data));
  uint64_t index = log_.last_index();
  maybe_commit();
  return index;
}

namespace {

void insert_sorted(std::vector<std::string>& ids, const std::string& id) {
  ids.insert(std::upper_bound(ids.begin(), ids.end(), id), id);
}
void erase_id(std::vector<std::string>& ids, const std::string& id) { std::erase(ids, id); }

}  // namespace

Result<uint64_t> RaftGroup::propose_add(const std::string& id) {
  if (Status s = check_config_change(); !s.ok()) return s;
  if (id.empty()) return Status(ErrorCode::kInvalidArgument, "empty replica id");
  if (is_voter(id)) return Status(ErrorCode::kInvalidArgument, "already a voter: " + id);
  if (is_learner(id) && !responsive(progress_.at(id))) {
    return Status(ErrorCode::kUnavailable, "has not answered within an election timeout: " + id);
  }
  std::vector<std::string> voters = voters_, learners = learners_;
  insert_sorted(voters, id);
  erase_id(learners, id);
  return append_config(std::move(voters), std::move(learners));
}

Result<uint64_t> RaftGroup::propose_add_learner(const std::string& id) {
  if (Status s = check_config_change(); !s.ok()) return s;
  if (id.empty()) return Status(ErrorCode::kInvalidArgument, "empty replica id");
  if (is_voter(id) || is_learner(id)) return Status(ErrorCode::kInvalidArgument, "already a replica: " + id);
  std::vector<std::string> learners = learners_;
  insert_sorted(learners, id);
  return append_config(voters_, std::move(learners));
}

Result<uint64_t> RaftGroup::propose_remove(const std::string& id) {
  if (Status s = check_config_change(); !s.ok()) return s;
  if (is_learner(id)) {
    std::vector<std::string> learners = learners_;
    erase_id(learners, id);
    return append_config(voters_, std::move(learners));
  }
  if (!is_voter(id)) return Status(ErrorCode::kInvalidArgument, "not a replica: " + id);
  if (voters_.size() == 1) return Status(ErrorCode::kInvalidArgument, "cannot remove the last voter");
  std::vector<std::string> voters = voters_;
  erase_id(voters, id);
  return append_config(std::move(voters), learners_);
}

Status RaftGroup::transfer_leadership(uint64_t now_ms, const std::string& to) {
  now_ms_ = std::max(now_ms_, now_ms);
  quiet_ = false;
  if (role_ != RaftRole::kLeader) return Status(ErrorCode::kNotLeader, leader_);
  if (to == id_) return Status::Ok();
  if (!is_voter(to)) return Status(ErrorCode::kInvalidArgument, "not a voter: " + to);
  if (!responsive(progress_.at(to))) {
    return Status(ErrorCode::kUnavailable, "has not answered within an election timeout: " + to);
  }
  if (!transfer_target_.empty()) {
    if (transfer_target_ == to) return Status::Ok();
    return Status(ErrorCode::kBusy, "leadership transfer to " + transfer_target_ + " in progress");
  }
  transfer_target_ = to;
  transfer_deadline_ms_ = now_ms_ + config_.election_timeout_ms;
  Progress& pr = progress_.at(to);
  if (pr.match == log_.last_index()) {
    maybe_send_timeout_now(to, pr);
  } else {
    maybe_send_append(to, pr, /*send_if_empty=*/true);  // an empty append probes where it stands
  }
  return Status::Ok();
}

Status RaftGroup::read_index(uint64_t now_ms, uint64_t request_id) {
  now_ms_ = std::max(now_ms_, now_ms);
  quiet_ = false;
  if (role_ != RaftRole::kLeader) return Status(ErrorCode::kNotLeader, leader_);
  pending_reads_.push_back(PendingRead{request_id, 0, 0});
  start_read_rounds();
  return Status::Ok();
}

Result<SnapshotMeta> RaftGroup::compact(uint64_t index, std::string data) {
  if (index <= log_.snapshot().index || index > applied_) {
    return Status(ErrorCode::kInvalidArgument, "compaction index outside (snapshot, applied]");
  }
  MESH_ASSERT(index <= persisted_last_, "compacting entries that are not persisted");
  quiet_ = false;
  RaftLog::ConfigAt config = log_.config_at(index);
  SnapshotMeta meta{index, *log_.term_at(index), *config.voters, *config.learners};
  log_.compact_to(meta);
  snapshot_data_ = std::move(data);
  return meta;
}

bool RaftGroup::has_ready() const {
  if (quiet_) return false;
  bool ready = snapshot_to_install_ || truncate_from_ || log_.last_index() > persisted_last_ ||
               hard_state_changed() || !outbox_.empty() || commit_ > applied_ || !read_states_.empty() ||
               !failed_reads_.empty() || stepped_down_ || (role_ == RaftRole::kLeader && appends_pending_);
  quiet_ = !ready;
  return ready;
}

uint64_t RaftGroup::next_deadline_ms() const {
  if (role_ != RaftRole::kLeader) return election_deadline_ms_;
  uint64_t deadline = std::min(next_quorum_check_ms_, next_heartbeat_ms_);
  return transfer_target_.empty() ? deadline : std::min(deadline, transfer_deadline_ms_);
}

bool RaftGroup::hard_state_changed() const {
  return term_ != persisted_hard_state_.term || commit_ != persisted_hard_state_.commit ||
         vote_ != persisted_hard_state_.vote;
}

Ready RaftGroup::take_ready() {
  quiet_ = false;
  if (role_ == RaftRole::kLeader && appends_pending_) send_pending_appends(/*send_if_empty=*/false);
  appends_pending_ = false;

  stepped_down_ = false;
  Ready ready;
  ready.snapshot = std::exchange(snapshot_to_install_, std::nullopt);
  ready.truncate_from = std::exchange(truncate_from_, std::nullopt);
  if (log_.last_index() > persisted_last_) ready.entries = log_.slice(persisted_last_ + 1, log_.last_index());
  persisted_last_ = log_.last_index();
  bool new_term_or_vote = term_ != persisted_hard_state_.term || vote_ != persisted_hard_state_.vote;
  if (hard_state_changed()) {
    persisted_hard_state_ = hard_state();
    ready.hard_state = persisted_hard_state_;
  }
  ready.must_sync = new_term_or_vote || ready.snapshot || ready.truncate_from || !ready.entries.empty();
  ready.messages_may_precede_sync = role_ == RaftRole::kLeader && quorum() >= 2 && !new_term_or_vote;
  ready.messages = std::exchange(outbox_, {});
  if (commit_ > applied_) {
    MESH_ASSERT(applied_ + 1 >= log_.first_index(), "entries to apply were compacted");
    ready.committed = log_.slice(applied_ + 1, commit_);
    applied_ = commit_;
  }
  ready.read_states = std::exchange(read_states_, {});
  ready.failed_reads = std::exchange(failed_reads_, {});
  return ready;
}

RaftStatus RaftGroup::status() const {
  RaftStatus s;
  s.group = config_.group;
  s.id = id_;
  s.role = role_;
  s.term = term_;
  s.leader = leader_;
  s.commit_index = commit_;
  s.applied_index = applied_;
  s.first_index = log_.first_index();
  s.last_index = log_.last_index();
  s.voters = voters_;
  s.learners = learners_;
  for (const auto& [id, pr] : progress_) {
    s.followers.push_back(FollowerStatus{id, pr.match, pr.next, pr.state, responsive(pr)});
  }
  s.transfer_target = transfer_target_;
  return s;
}

// --- elections -----------------------------------------------------------------

void RaftGroup::tick_election() {
  if (now_ms_ < election_deadline_ms_) return;
  if (may_campaign()) {
    start_pre_vote();
  } else {
    reset_election_timer();
  }
}

bool RaftGroup::may_campaign() const {
  if (standing_aside_) return false;
  if (is_voter(id_)) return true;
  // Until its own removal commits, the removed replica may be the only one
  // whose log can win: a leader that removed itself and then lost its quorum.
  if (config_index_ <= commit_) return false;
  const std::vector<std::string>& previous = *log_.config_at(config_index_ - 1).voters;
  return std::binary_search(previous.begin(), previous.end(), id_);
}

void RaftGroup::start_pre_vote() {
  role_ = RaftRole::kPreCandidate;
  leader_.clear();
  votes_.clear();
  reset_election_timer();
  record_vote(id_, true);
  if (role_ == RaftRole::kPreCandidate) send_vote_requests(/*pre_vote=*/true, /*transfer=*/false);
}

void RaftGroup::start_election(bool transfer) {
  role_ = RaftRole::kCandidate;
  ++term_;
  vote_ = id_;
  leader_.clear();
  votes_.clear();
  reset_election_timer();
  record_vote(id_, true);
  if (role_ == RaftRole::kCandidate) send_vote_requests(/*pre_vote=*/false, transfer);
}

void RaftGroup::send_vote_requests(bool pre_vote, bool transfer) {
  for (const auto& voter : voters_) {
    if (voter == id_) continue;
    // A pre-vote asks about the term this replica would campaign in.
    send(VoteRequest{config_.group, pre_vote ? term_ + 1 : term_, id_, voter, log_.last_index(), log_.last_term(),
                     pre_vote, transfer});
  }
}

void RaftGroup::record_vote(const std::string& from, bool granted) {
  if (!is_voter(from)) return;
  votes_.emplace(from, granted);  // the first answer of each voter counts
  size_t granted_count = 0;
  for (const auto& [id, g] : votes_) granted_count += g ? 1 : 0;
  size_t rejected_count = votes_.size() - granted_count;
  if (granted_count >= quorum()) {
    if (role_ == RaftRole::kPreCandidate) {
      start_election(/*transfer=*/false);
    } else {
      become_leader();
    }
  } else if (rejected_count >= quorum()) {
    become_follower(term_, "");
  }
}

bool RaftGroup::may_vote_for(const VoteRequest& m) const {
  return vote_ == m.from || (vote_.empty() && leader_.empty()) || (m.pre_vote && m.term > term_);
}

bool RaftGroup::in_leader_lease() const {
  if (role_ == RaftRole::kLeader) return true;  // CheckQuorum steps it down when the lease is gone
  return !leader_.empty() && now_ms_ < leader_contact_ms_ + config_.election_timeout_ms;
}

void RaftGroup::become_follower(uint64_t term, const std::string& leader) {
  if (role_ == RaftRole::kLeader) {
    fail_pending_reads();
    progress_.clear();
    transfer_target_.clear();
    appends_pending_ = false;
    stepped_down_ = true;
  }
  if (term > term_) {
    term_ = term;
    vote_.clear();
  }
  role_ = RaftRole::kFollower;
  leader_ = leader;
  votes_.clear();
  if (!leader.empty()) leader_contact_ms_ = now_ms_;
  reset_election_timer();
}

void RaftGroup::become_leader() {
  role_ = RaftRole::kLeader;
  leader_ = id_;
  votes_.clear();
  progress_.clear();
  sync_progress_with_config();
  next_heartbeat_ms_ = now_ms_ + config_.heartbeat_interval_ms;
  next_quorum_check_ms_ = now_ms_ + config_.election_timeout_ms;
  // Entries of earlier terms commit only under an entry of this term.
  append_own_entry(EntryType::kNoop, {});
  send_pending_appends(/*send_if_empty=*/true);
  appends_pending_ = false;
  maybe_commit();
}

void RaftGroup::reset_election_timer() {
  election_deadline_ms_ = now_ms_ + config_.election_timeout_ms + random_.uniform(config_.election_timeout_ms);
}

// --- messages --------------------------------------------------------------------

void RaftGroup::on(const VoteRequest& m) {
  if (m.term < term_) {
    // Tell a stale pre-candidate the term, so it stops asking.
    if (m.pre_vote) send(VoteResponse{config_.group, term_, id_, m.from, true, false});
    return;
  }
  if (m.term > term_ && !m.transfer && in_leader_lease()) return;  // leader stickiness
  if (m.term > term_ && !m.pre_vote) become_follower(m.term, "");
  bool grant = may_vote_for(m) && log_.is_up_to_date(m.last_index, m.last_term);
  if (!grant) {
    send(VoteResponse{config_.group, term_, id_, m.from, m.pre_vote, false});
    return;
  }
  send(VoteResponse{config_.group, m.term, id_, m.from, m.pre_vote, true});
  if (!m.pre_vote) {
    vote_ = m.from;
    reset_election_timer();
  }
}

void RaftGroup::on(const VoteResponse& m) {
  // A granted pre-vote carries the term this replica would campaign in.
  if (m.term > term_ && !(m.pre_vote && m.granted)) {
    become_follower(m.term, "");
    return;
  }
  if (m.pre_vote) {
    if (role_ != RaftRole::kPreCandidate || m.term != (m.granted ? term_ + 1 : term_)) return;
  } else {
    if (role_ != RaftRole::kCandidate || m.term != term_) return;
  }
  record_vote(m.from, m.granted);
}

void RaftGroup::on(const AppendRequest& m) {
  if (!well_formed(m)) return;
  if (m.term < term_) {
    reply_stale_term(m.from);
    return;
  }
  if (m.term == term_ && role_ == RaftRole::kLeader) return;  // two leaders of one term cannot exist
  become_follower(m.term, m.from);
  if (m.prev_index < commit_) {
    // Everything up to commit_ is committed here, hence in the leader's log.
    reply_append(m.from, true, commit_);
    return;
  }
  if (!log_.matches(m.prev_index, m.prev_term)) {
    reject_append(m);
    return;
  }
  append_from_leader(m);
}

bool RaftGroup::responsive(const Progress& pr) const {
  return pr.heard_ms && now_ms_ - *pr.heard_ms < config_.election_timeout_ms;
}

bool RaftGroup::heard_from_quorum_since(uint64_t since_ms) const {
  if (role_ != RaftRole::kLeader) return false;
  size_t heard = is_voter(id_) ? 1 : 0;
  for (const auto& [id, pr] : progress_) {
    heard += is_voter(id) && pr.heard_ms && *pr.heard_ms >= since_ms ? 1 : 0;
  }
  return heard >= quorum();
}

RaftGroup::Progress* RaftGroup::responding_follower(uint64_t term, const std::string& from) {
  if (term > term_) {
    become_follower(term, "");
    return nullptr;
  }
  if (role_ != RaftRole::kLeader || term != term_) return nullptr;
  auto it = progress_.find(from);
  if (it == progress_.end()) return nullptr;
  it->second.recent_active = true;
  it->second.heard_ms = now_ms_;
  return &it->second;
}

void RaftGroup::on(const AppendResponse& m) {
  Progress* pr = responding_follower(m.term, m.from);
  if (pr == nullptr) return;
  if (m.success) {
    on_append_success(m.from, *pr, std::min(m.match_index, log_.last_index()));
  } else {
    on_append_reject(m.from, *pr, m);
  }
}

void RaftGroup::on(const Heartbeat& m) {
  if (m.term < term_) {
    reply_stale_term(m.from);
    return;
  }
  if (m.term == term_ && role_ == RaftRole::kLeader) return;
  become_follower(m.term, m.from);
  // The leader caps m.commit at what this replica acknowledged in its term.
  commit_ = std::max(commit_, std::min(m.commit, log_.last_index()));
  send(HeartbeatResponse{config_.group, term_, id_, m.from, m.read_seq});
}

void RaftGroup::on(const HeartbeatResponse& m) {
  Progress* found = responding_follower(m.term, m.from);
  if (found == nullptr) return;
  Progress& pr = *found;
  pr.read_seq_acked = std::max(pr.read_seq_acked, m.read_seq);
  release_confirmed_reads();
  // The follower is alive: resume a lost probe, snapshot chunk or pipeline.
  if (pr.state == ReplicationState::kSnapshot && now_ms_ >= pr.snapshot_sent_ms + config_.election_timeout_ms) {
    send_snapshot_chunk(m.from, pr);
  }
  if (pr.state == ReplicationState::kProbe) pr.probe_sent = false;
  if (pr.state == ReplicationState::kReplicate && pr.inflight.size() >= config_.max_inflight) {
    pr.inflight.erase(pr.inflight.begin());  // presume the oldest lost: a gap gets rejected and repaired
  }
  if (pr.match < log_.last_index()) maybe_send_append(m.from, pr, /*send_if_empty=*/true);
}

void RaftGroup::on(const InstallSnapshot& m) {
  if (m.term < term_) {
    reply_stale_term(m.from);
    return;
  }
  if (m.term == term_ && role_ == RaftRole::kLeader) return;
  become_follower(m.term, m.from);
  if (m.snapshot_index <= commit_) {
    snapshot_receiving_.reset();
    reply_append(m.from, true, commit_);
    return;
  }
  std::optional<Snapshot> whole = take_snapshot_chunk(m);
  if (!whole) return;
  if (log_.matches(m.snapshot_index, m.snapshot_term)) {
    // The log already holds the snapshot's last entry: keep it and what follows.
    commit_ = m.snapshot_index;
  } else {
    install_snapshot(std::move(*whole));
  }
  reply_append(m.from, true, m.snapshot_index);
}

// Chunks arrive in order; one out of order (a lost chunk, a restart on
// either side) is answered with the offset expected, and the leader resends
// from there. Only the chunks of one snapshot are held at a time.
std::optional<Snapshot> RaftGroup::take_snapshot_chunk(const InstallSnapshot& m) {
  if (m.offset == 0) {
    snapshot_receiving_ = Snapshot{SnapshotMeta{m.snapshot_index, m.snapshot_term, m.voters, m.learners}, {}};
  }
  bool same = snapshot_receiving_ && snapshot_receiving_->meta.index == m.snapshot_index &&
              snapshot_receiving_->meta.term == m.snapshot_term;
  if (!same || m.offset != snapshot_receiving_->data.size()) {
    send(SnapshotResponse{config_.group, term_, id_, m.from, m.snapshot_index,
                          same ? snapshot_receiving_->data.size() : 0});
    return std::nullopt;
  }
  snapshot_receiving_->data += m.data;
  if (!m.done) {
    send(SnapshotResponse{config_.group, term_, id_, m.from, m.snapshot_index, snapshot_receiving_->data.size()});
    return std::nullopt;
  }
  return std::exchange(snapshot_receiving_, std::nullopt);
}

void RaftGroup::on(const SnapshotResponse& m) {
  Progress* found = responding_follower(m.term, m.from);
  if (found == nullptr) return;
  Progress& pr = *found;
  if (pr.state != ReplicationState::kSnapshot || m.snapshot_index != pr.snapshot_index) return;
  pr.snapshot_offset = std::min<uint64_t>(m.next_offset, snapshot_data_.size());
  send_snapshot_chunk(m.from, pr);
}

void RaftGroup::on(const TimeoutNow& m) {
  if (m.term < term_ || (m.term == term_ && role_ == RaftRole::kLeader)) return;
  become_follower(m.term, m.from);
  if (is_voter(id_) && !standing_aside_) start_election(/*transfer=*/true);
}

// --- follower side of replication ------------------------------------------------

// Entries must follow prev_index one by one with terms that never decrease
// and never pass the sender's: anything else would break the log's invariants.
bool RaftGroup::well_formed(const AppendRequest& m) const {
  uint64_t index = m.prev_index;
  uint64_t term = m.prev_term;
  for (const LogEntry& e : m.entries) {
    if (e.index != ++index || e.term < term || e.term > m.term) return false;
    term = e.term;
  }
  return true;
}

void RaftGroup::append_from_leader(const AppendRequest& m) {
  for (const LogEntry& entry : m.entries) {
    if (entry.index <= log_.last_index()) {
      if (log_.term_at(entry.index) == entry.term) continue;  // already held
      MESH_ASSERT(entry.index > commit_, "leader contradicts a committed entry");
      truncate_log_from(entry.index);
    }
    append_entry(entry);
  }
  // Entries past the request may still conflict: only this much is known to match.
  uint64_t match = m.prev_index + m.entries.size();
  commit_ = std::max(commit_, std::min(m.commit, match));
  reply_append(m.from, true, match);
}

void RaftGroup::reject_append(const AppendRequest& m) {
  AppendResponse r{config_.group, term_, id_, m.from, false, 0, m.prev_index, 0, 0};
  if (m.prev_index > log_.last_index()) {
    r.conflict_index = log_.last_index() + 1;
  } else {
    r.conflict_term = *log_.term_at(m.prev_index);
    r.conflict_index = m.prev_index >= log_.first_index() ? log_.first_index_of_term_at(m.prev_index) : m.prev_index;
  }
  send(std::move(r));
}

void RaftGroup::install_snapshot(Snapshot snapshot) {
  uint64_t index = snapshot.meta.index;
  log_.reset(snapshot.meta);
  snapshot_data_ = snapshot.data;
  commit_ = index;
  applied_ = index;  // the host loads the snapshot instead of applying entries up to it
  persisted_last_ = index;
  truncate_from_.reset();  // the snapshot replaces the whole persisted log
  adopt_config(RaftLog::ConfigAt{index, &snapshot.meta.voters, &snapshot.meta.learners});
  snapshot_to_install_ = std::move(snapshot);
}

void RaftGroup::reply_append(const std::string& to, bool success, uint64_t match_index) {
  send(AppendResponse{config_.group, term_, id_, to, success, match_index, 0, 0, 0});
}

void RaftGroup::reply_stale_term(const std::string& to) {
  // A leader of an older term learns the newer term from this and steps down.
  send(AppendResponse{config_.group, term_, id_, to, false, 0, 0, 0, 0});
}

// --- leader side of replication --------------------------------------------------

void RaftGroup::tick_leader() {
  if (now_ms_ >= next_quorum_check_ms_) {
    check_quorum();
    if (role_ != RaftRole::kLeader) return;
  }
  if (!transfer_target_.empty() && now_ms_ >= transfer_deadline_ms_) abort_transfer();
  if (now_ms_ >= next_heartbeat_ms_) {
    send_heartbeats();
    next_heartbeat_ms_ = now_ms_ + config_.heartbeat_interval_ms;
  }
}

void RaftGroup::on_append_success(const std::string& from, Progress& pr, uint64_t match_index) {
  pr.match = std::max(pr.match, match_index);
  switch (pr.state) {
    case ReplicationState::kProbe:
      pr.state = ReplicationState::kReplicate;
      pr.next = pr.match + 1;
      pr.probe_sent = false;
      break;
    case ReplicationState::kSnapshot:
      if (pr.match < pr.snapshot_index) break;  // an answer to an older append
      pr.state = ReplicationState::kReplicate;
      pr.next = pr.match + 1;
      break;
    case ReplicationState::kReplicate:
      std::erase_if(pr.inflight, [&](uint64_t last) { return last <= pr.match; });
      pr.next = std::max(pr.next, pr.match + 1);
      break;
  }
  maybe_commit();
  if (role_ != RaftRole::kLeader) return;  // stepped down: its removal committed
  maybe_send_timeout_now(from, pr);
  while (maybe_send_append(from, pr, /*send_if_empty=*/false)) {
  }
  tell_commit(from, pr);
}

void RaftGroup::on_append_reject(const std::string& from, Progress& pr, const AppendResponse& m) {
  // Ignore answers to appends that no longer matter.
  if (m.reject_index <= pr.match || pr.state == ReplicationState::kSnapshot) return;
  if (pr.state == ReplicationState::kProbe && m.reject_index + 1 != pr.next) return;
  // Skip the follower's whole conflicting term: resume after the leader's last
  // entry of that term, or before the follower's first one.
  uint64_t next = m.conflict_index;
  if (m.conflict_term != 0) {
    if (auto last = log_.last_index_of_term(m.conflict_term, m.reject_index)) next = *last + 1;
  }
  pr.next = std::min(std::clamp(next, pr.match + 1, m.reject_index), log_.last_index() + 1);
  pr.state = ReplicationState::kProbe;
  pr.probe_sent = false;
  pr.inflight.clear();
  maybe_send_append(from, pr, /*send_if_empty=*/true);
}

bool RaftGroup::maybe_send_append(const std::string& to, Progress& pr, bool send_if_empty) {
  switch (pr.state) {
    case ReplicationState::kSnapshot: return false;
    case ReplicationState::kProbe:
      if (pr.probe_sent) return false;
      break;
    case ReplicationState::kReplicate:
      if (pr.inflight.size() >= config_.max_inflight) return false;
      break;
  }
  MESH_ASSERT(pr.next >= 1 && pr.next <= log_.last_index() + 1, "next index out of range");
  uint64_t prev = pr.next - 1;
  std::optional<uint64_t> prev_term = log_.term_at(prev);
  if (!prev_term) {
    send_snapshot(to, pr);
    return true;
  }
  uint64_t last = last_index_within_append_limits(prev);
  // A probe goes out even when empty: it finds where a new or silent follower stands.
  if (last == prev && !send_if_empty && pr.state != ReplicationState::kProbe) return false;
  send(AppendRequest{config_.group, term_, id_, to, prev, *prev_term, commit_, log_.slice(prev + 1, last)});
  pr.commit_sent = std::max(pr.commit_sent, std::min(commit_, last));
  if (pr.state == ReplicationState::kProbe) {
    pr.probe_sent = true;
  } else if (last > prev) {
    pr.inflight.push_back(last);
    pr.next = last + 1;
  }
  return true;
}

// Entries after prev, up to the count and byte limits of one append; one
// entry over the byte limit still goes, alone.
uint64_t RaftGroup::last_index_within_append_limits(uint64_t prev) const {
  uint64_t last = std::min(log_.last_index(), prev + config_.max_entries_per_append);
  size_t bytes = 0;
  for (uint64_t i = prev + 1; i <= last; ++i) {
    bytes += log_.at(i).data.size();
    if (bytes > config_.max_append_bytes && i > prev + 1) return i - 1;
  }
  return last;
}

void RaftGroup::send_snapshot(const std::string& to, Progress& pr) {
  pr.state = ReplicationState::kSnapshot;
  pr.snapshot_index = log_.snapshot().index;
  pr.snapshot_offset = 0;
  pr.probe_sent = false;
  pr.inflight.clear();
  send_snapshot_chunk(to, pr);
}

// One chunk at a time: the follower's answer asks for the next, so a slow
// follower is never sent more than one chunk ahead.
void RaftGroup::send_snapshot_chunk(const std::string& to, Progress& pr) {
  const SnapshotMeta& meta = log_.snapshot();
  if (pr.snapshot_index != meta.index) {
    // Compacted again meanwhile: stream the newer snapshot from its start.
    pr.snapshot_index = meta.index;
    pr.snapshot_offset = 0;
  }
  uint64_t offset = std::min<uint64_t>(pr.snapshot_offset, snapshot_data_.size());
  size_t length = std::min<size_t>(config_.snapshot_chunk_bytes, snapshot_data_.size() - offset);
  bool done = offset + length == snapshot_data_.size();
  send(InstallSnapshot{config_.group, term_, id_, to, meta.index, meta.term, meta.voters,
                       snapshot_data_.substr(offset, length), offset, done, meta.learners});
  pr.snapshot_sent_ms = now_ms_;
}

void RaftGroup::send_pending_appends(bool send_if_empty) {
  for (auto& [id, pr] : progress_) {
    bool sent = maybe_send_append(id, pr, send_if_empty);
    while (sent && maybe_send_append(id, pr, /*send_if_empty=*/false)) {
    }
  }
}

// A follower holding entries that committed since it last heard gets an
// append now rather than at the next heartbeat.
void RaftGroup::tell_commit(const std::string& to, Progress& pr) {
  if (pr.commit_sent < std::min(commit_, pr.match)) maybe_send_append(to, pr, /*send_if_empty=*/true);
}

void RaftGroup::send_heartbeats() {
  for (auto& [id, pr] : progress_) {
    uint64_t commit = std::min(pr.match, commit_);
    send(Heartbeat{config_.group, term_, id_, id, commit, read_seq_});
    pr.commit_sent = std::max(pr.commit_sent, commit);
  }
}

void RaftGroup::check_quorum() {
  size_t active = is_voter(id_) ? 1 : 0;
  for (auto& [id, pr] : progress_) {
    active += pr.recent_active && is_voter(id) ? 1 : 0;
    pr.recent_active = false;
  }
  if (active < quorum()) {
    become_follower(term_, "");
    return;
  }
  next_quorum_check_ms_ = now_ms_ + config_.election_timeout_ms;
}

void RaftGroup::maybe_commit() {
  if (role_ != RaftRole::kLeader) return;
  std::vector<uint64_t> matches;
  matches.reserve(voters_.size());
  if (is_voter(id_)) matches.push_back(log_.last_index());
  for (const auto& [id, pr] : progress_) {
    if (is_voter(id)) matches.push_back(pr.match);
  }
  std::sort(matches.begin(), matches.end(), std::greater<>());
  uint64_t index = matches[quorum() - 1];
  // Counting replicas commits only entries of this term (Raft paper, Figure 8).
  if (index <= commit_ || log_.term_at(index) != term_) return;
  commit_ = index;
  on_commit_advanced();
}

void RaftGroup::on_commit_advanced() {
  start_read_rounds();
  for (auto& [id, pr] : progress_) tell_commit(id, pr);
  if (!is_voter(id_) && config_index_ <= commit_) become_follower(term_, "");  // its removal committed
}

Status RaftGroup::check_accepting_proposals() const {
  if (role_ != RaftRole::kLeader) return Status(ErrorCode::kNotLeader, leader_);
  if (!transfer_target_.empty()) return Status(ErrorCode::kBusy, "leadership transfer to " + transfer_target_);
  return Status::Ok();
}

Status RaftGroup::check_config_change() const {
  if (Status s = check_accepting_proposals(); !s.ok()) return s;
  if (config_index_ > commit_) return Status(ErrorCode::kBusy, "a configuration change is not committed yet");
  // Thesis erratum: a new leader must commit in its term before changing the
  // configuration, or a change of an earlier term could be lost under it.
  if (!committed_in_current_term()) return Status(ErrorCode::kBusy, "no entry of this term committed yet");
  return Status::Ok();
}

Result<uint64_t> RaftGroup::append_config(std::vector<std::string> voters, std::vector<std::string> learners) {
  quiet_ = false;
  append_entry(LogEntry{log_.last_index() + 1, term_, EntryType::kConfig, {}, std::move(voters), std::move(learners)});
  appends_pending_ = true;
  uint64_t index = log_.last_index();
  maybe_commit();  // a removal can make entries committed at once
  return index;
}

bool RaftGroup::committed_in_current_term() const { return log_.term_at(commit_) == term_; }

void RaftGroup::append_own_entry(EntryType type, std::string data) {
  append_entry(LogEntry{log_.last_index() + 1, term_, type, std::move(data), {}, {}});
  appends_pending_ = true;
}

void RaftGroup::sync_progress_with_config() {
  std::erase_if(progress_, [this](const auto& kv) { return !is_voter(kv.first) && !is_learner(kv.first); });
  for (const auto* ids : {&voters_, &learners_}) {
    for (const auto& id : *ids) {
      if (id == id_) continue;
      auto [it, added] = progress_.try_emplace(id);
      if (added) it->second.next = log_.last_index() + 1;
    }
  }
  if (!transfer_target_.empty() && !is_voter(transfer_target_)) abort_transfer();
}

void RaftGroup::maybe_send_timeout_now(const std::string& to, const Progress& pr) {
  if (to != transfer_target_ || pr.match != log_.last_index()) return;
  send(TimeoutNow{config_.group, term_, id_, to});
}

void RaftGroup::abort_transfer() { transfer_target_.clear(); }

// --- read index --------------------------------------------------------------------

void RaftGroup::start_read_rounds() {
  // Until an entry of this term commits, commit_ may lag entries that earlier
  // leaders committed: a read at it could miss acknowledged writes.
  if (pending_reads_.empty() || pending_reads_.back().seq != 0 || !committed_in_current_term()) return;
  uint64_t seq = ++read_seq_;
  for (auto& read : pending_reads_) {
    if (read.seq != 0) continue;
    read.index = commit_;
    read.seq = seq;
  }
  send_heartbeats();
  release_confirmed_reads();  // a lone voter confirms at once
}

void RaftGroup::release_confirmed_reads() {
  size_t released = 0;
  for (; released < pending_reads_.size() && pending_reads_[released].seq != 0; ++released) {
    const PendingRead& read = pending_reads_[released];
    size_t acks = is_voter(id_) ? 1 : 0;
    for (const auto& [id, pr] : progress_) acks += pr.read_seq_acked >= read.seq && is_voter(id) ? 1 : 0;
    if (acks < quorum()) break;
    read_states_.push_back(ReadState{read.request_id, read.index});
  }
  pending_reads_.erase(pending_reads_.begin(), pending_reads_.begin() + static_cast<std::ptrdiff_t>(released));
}

void RaftGroup::fail_pending_reads() {
  for (const auto& read : pending_reads_) failed_reads_.push_back(read.request_id);
  pending_reads_.clear();
}

// --- log and configuration ---------------------------------------------------------

void RaftGroup::append_entry(LogEntry entry) {
  bool is_config = entry.type == EntryType::kConfig;
  log_.append(std::move(entry));
  if (is_config) adopt_config(log_.config_at(log_.last_index()));
}

void RaftGroup::truncate_log_from(uint64_t index) {
  log_.truncate_from(index);
  if (index <= persisted_last_) {
    persisted_last_ = index - 1;
    truncate_from_ = std::min(truncate_from_.value_or(index), index);
  }
  if (config_index_ >= index) {
    adopt_config(log_.config_at(log_.last_index()));
  }
}

void RaftGroup::adopt_config(const RaftLog::ConfigAt& config) {
  voters_ = *config.voters;
  learners_ = *config.learners;
  config_index_ = config.index;
  if (role_ == RaftRole::kLeader) sync_progress_with_config();
}

bool RaftGroup::is_voter(const std::string& id) const { return std::binary_search(voters_.begin(), voters_.end(), id); }
bool RaftGroup::is_learner(const std::string& id) const {
  return std::binary_search(learners_.begin(), learners_.end(), id);
}

template <typename M>
void RaftGroup::send(M message) {
  outbox_.emplace_back(std::move(message));
}

}  // namespace mesh
