#include "node/core/node_state.h"

#include <algorithm>

#include "node/core/assert.h"
#include "node/core/backoff.h"
#include "node/core/clock_math.h"
#include "node/core/partitioning.h"
#include "protocol/limits.h"

namespace mesh {

NodeState::NodeState(NodeConfig config, Random& random)
    : config_(std::move(config)),
      replica_id_(config_.replica_id.empty() ? config_.node_id + "#0" : config_.replica_id),
      random_(random),
      ready_(config_.aging_interval_ms),
      membership_(config_.membership, config_.node_id, config_.address, random_, replica_id_) {
  start_components();
}

NodeState::~NodeState() = default;

RunTask run_task_of(const TaskRecord& record, uint32_t partition, uint32_t attempt) {
  return RunTask{record.spec.id, attempt, record.spec.handler, record.spec.payload, record.spec.timeout_ms,
                 partition, inputs_in_order(record)};
}

Effects NodeState::step(const Input& input) {
  now_ms_ = input.now_ms;
  out_ = Effects{};
  raft_out_.clear();
  std::visit([this](const auto& e) { on(e); }, input.event);
  if (joined_) {
    tick_groups();
    if (storage_full_ || draining_) shed_leadership();
    reconcile();
    purge_expired();
  }
  expire_routes();
  txns_->tick();
  deps_->tick();
  // Applying committed entries makes tasks runnable (and leadership brings
  // leases to check), and a single-voter group commits what dispatch
  // proposes at once: go round until quiet.
  for (int round = 0; round < 4; ++round) {
    drain_groups();
    expire_deadlines();
    start_waiting_runs();
    dispatch();
    start_backup_attempts();
    maybe_steal();
    bool more = !partitions_with_batched_ops_.empty() ||
                std::any_of(replicas_.begin(), replicas_.end(), [](const auto& p) { return p.second.raft->has_ready(); });
    if (!more) break;
  }
  propose_batched_ops();  // what the last round proposed: a Ready for the next step
  resolve_waiters();
  start_read_rounds();
  if (joined_) {
    if (now_ms_ >= next_load_publish_ms_) publish_load();
    membership_.tick(now_ms_);
  }
  send_raft_batches();
  for (auto& message : membership_.take_outbox()) out_.sends.push_back(std::move(message));
  membership_events();
  remember_peers();
  out_.disconnects = membership_.take_released_addresses();
  out_.wake_at_ms = next_wake();
  return std::move(out_);
}

void NodeState::membership_events() {
  for (const auto& change : membership_.take_changes()) {
    if (change.joined && change.state == MemberState::kAlive) {
      event("member_joined", change.id);
    } else {
      event(std::string("member_") + member_state_name(change.state), change.id);
    }
  }
}

void NodeState::remember_peers() {
  if (!joined_ || membership_.live_version() == known_peers_version_) return;
  known_peers_version_ = membership_.live_version();
  std::vector<std::string> addresses;
  for (const auto& id : membership_.live_ids()) {
    if (id != config_.node_id) addresses.push_back(membership_.find(id)->address);
  }
  std::sort(addresses.begin(), addresses.end());
  // A node alone (just restarted, or cut off) keeps the peers it knew.
  if (addresses.empty() || addresses == known_peers_) return;
  known_peers_ = addresses;
  out_.known_peers = std::move(addresses);
}

// --- client inputs -----------------------------------------------------------------

void NodeState::on(const in::Submit& e) {
  bool dependent = std::any_of(e.tasks.begin(), e.tasks.end(), [](const TaskSpec& t) { return !t.after.empty(); });
  if (e.atomic || dependent) return submit_atomic(e.request, e.txn, e.tasks);
  route_submit(e.request, e.tasks);
}

void NodeState::on(const in::Cancel& e) {
  if (e.job.empty()) return start_fanout(e.request, CancelRequest{e.ids}, config_.replication.request_deadline_ms);
  if (!e.ids.empty()) {
    out_.replies.push_back({e.request, ErrorReply{ErrorCode::kInvalidArgument, "a cancel names ids or a job, not both"}});
    return;
  }
  txns_->cancel_job(e.request, random_id("c-"), e.job);
}

void NodeState::on(const in::Wait& e) { start_fanout(e.request, e.query, e.query.timeout_ms); }

void NodeState::on(const in::Get& e) { start_fanout(e.request, e.query, config_.replication.request_deadline_ms); }

void NodeState::on(const in::List& e) { start_fanout(e.request, e.query, config_.replication.request_deadline_ms); }

void NodeState::on(const in::Retry& e) { start_fanout(e.request, e.query, config_.replication.request_deadline_ms); }

// --- runner inputs -----------------------------------------------------------------

void NodeState::on(const in::TasksFinished& e) {
  for (const auto& finished : e.finished) on(finished);
}

void NodeState::on(const in::TaskFinished& e) {
  TaskKey key{e.partition, e.id};
  auto it = runs_.find(key);
  if (it == runs_.end() || it->second.attempt != e.attempt) {
    // The attempt timed out, was cancelled or lost its lease meanwhile.
    count("stale_completions_rejected");
    return;
  }
  Run run = it->second;
  runs_.erase(it);
  uint64_t slot_us = 1000 * (now_ms_ - std::min(now_ms_, run.started_ms));
  average_slot_us_ = average_slot_us_ == 0 ? slot_us : (average_slot_us_ * 7 + slot_us) / 8;
  failure_permille_ = (failure_permille_ * 7 + (e.ok ? 0 : 1000)) / 8;
  report_outcome(key, run, e.ok, e.output);
}

bool NodeState::commit_outcome(uint32_t partition, const TaskRecord& r, uint32_t attempt, bool ok,
                               const std::string& output) {
  if (!ok) return fail_attempt(partition, r, attempt, AttemptOutcome::kFailed, output);
  if (!propose(partition, OpComplete{r.spec.id, attempt, output, now_ms_})) return false;
  // started_ms was stamped by the leader that leased the attempt, maybe on another host.
  if (const AttemptInfo* a = find_attempt(r, attempt)) {
    uint64_t run_ms = elapsed_ms(now_ms_, a->started_ms);
    // A moving average with weight 1/8: smooth, and cheap to keep.
    average_run_ms_ = average_run_ms_ == 0 ? run_ms : (average_run_ms_ * 7 + run_ms) / 8;
  }
  // The racing attempt, if any, ends with this one.
  for (auto [it, end] = leases_of(TaskKey{partition, r.spec.id}); it != end; ++it) it->second.ending = true;
  return true;
}

bool NodeState::fail_attempt(uint32_t partition, const TaskRecord& r, uint32_t attempt, AttemptOutcome outcome,
                             std::string error) {
  uint64_t delay = backoff_delay_ms(r.spec.backoff_base_ms, r.spec.backoff_max_ms, r.failures + 1, random_);
  if (!propose(partition, OpFail{r.spec.id, attempt, outcome, error_text(std::move(error)), now_ms_, now_ms_ + delay})) {
    return false;
  }
  if (auto it = leases_.find(LeaseKey{TaskKey{partition, r.spec.id}, attempt}); it != leases_.end()) {
    it->second.ending = true;
  }
  return true;
}

void NodeState::on(const in::RenewLeases& e) {
  std::vector<RunRef> remote;
  // The executor names what it runs; granted attempts waiting for a slot
  // need their leases all the same.
  std::vector<RunRef> held = e.running;
  for (const auto& [key, run] : runs_) {
    if (run.waiting) held.push_back(RunRef{key.partition, key.id, run.attempt});
  }
  for (const auto& ref : held) {
    TaskKey key{ref.partition, ref.id};
    auto run = runs_.find(key);
    if (run == runs_.end() || run->second.attempt != ref.attempt) continue;
    if (!leads(ref.partition)) {
      remote.push_back(ref);
      continue;
    }
    auto lease = leases_.find(LeaseKey{key, ref.attempt});
    if (lease == leases_.end() || !lease->second.held_by(ref.attempt, config_.node_id)) {
      // A run lent to this node before it led the partition, whose attempt
      // has ended since: nobody would fence it otherwise.
      const TaskRecord* record = replicas_.at(ref.partition).table.find(ref.id);
      if (record != nullptr && latest_attempt(*record) >= ref.attempt &&
          !is_current_lease(*record, ref.attempt, config_.node_id)) {
        stop_fenced_run(run);
      }
      continue;
    }
    lease->second.deadline_ms = std::max(lease->second.deadline_ms, now_ms_ + config_.lease_ttl_ms);
    rearm_timeout(lease->second, key, ran_ms(key));
    propose(ref.partition, OpRenew{ref.id, ref.attempt, now_ms_ + config_.lease_ttl_ms});
    count("leases_renewed");
  }
  // An outcome not yet committed still needs its lease: expiring it would
  // rerun a task whose result is on its way.
  for (const auto& [key, p] : pending_results_) {
    if (!leads(key.partition)) remote.push_back(RunRef{key.partition, key.id, p.result.attempt});
  }
  renew_remote(remote, /*timed=*/true);
}

void NodeState::on(const in::Tick&) {}

void NodeState::on(const in::Recover& e) {
  for (const auto& [p, disk] : e.groups) {
    if (p >= config_.ring.partitions) continue;
    host(p, disk);
  }
  count("partitions_recovered", e.groups.size());
  known_peers_ = e.known_peers;
}

void NodeState::on(const in::StorageSpace& e) {
  if (e.full == storage_full_) return;
  storage_full_ = e.full;
  count(e.full ? "storage_full_entered" : "storage_full_left");
  for (auto& [p, r] : replicas_) r.raft->stand_aside(e.full);
}

void NodeState::on(const in::RemoveReplica& e) {
  auto refuse = [&](const std::string& why) {
    out_.replies.push_back({e.request, ErrorReply{ErrorCode::kInvalidArgument, why}});
  };
  if (e.replica_id.find('#') == std::string::npos) return refuse("a replica id is <node id>#<disk id>");
  for (const auto& m : membership_.members_where([](MemberState s, const LoadDigest&) {
         return s == MemberState::kAlive || s == MemberState::kSuspect;
       })) {
    if (m.replica_id == e.replica_id) {
      return refuse(e.replica_id + " is the current replica of live member " + m.id + ": drain that node instead");
    }
  }
  if (e.replica_id == replica_id_) return refuse(e.replica_id + " is this node's own replica: drain it instead");
  if (removed_by_operator_.size() >= kMaxRemovedByOperator) return refuse("too many replicas removed by operators");
  removed_by_operator_.insert(e.replica_id);
  RemoveReplicaReply reply{config_.node_id, {}};
  for (const auto& [p, r] : replicas_) {
    const auto& voters = r.raft->voters();
    const auto& learners = r.raft->learners();
    bool member = std::find(voters.begin(), voters.end(), e.replica_id) != voters.end() ||
                  std::find(learners.begin(), learners.end(), e.replica_id) != learners.end();
    if (r.leading && member) reply.partitions.push_back(p);
  }
  reconcile_pending_ = true;
  next_reconcile_ms_ = now_ms_;
  out_.replies.push_back({e.request, std::move(reply)});
}

void NodeState::on(const in::Drain&) {
  if (!draining_) membership_.leave(now_ms_);
  draining_ = true;
  // Attempts waiting here for a slot never start: dropped, their leases
  // lapse (at once for own partitions, see expire_deadlines) and the tasks
  // run elsewhere.
  std::erase_if(runs_, [](const auto& run) { return run.second.waiting.has_value(); });
}

void NodeState::on(const in::Join& e) {
  joined_ = true;
  // A node restarted without seeds still knows where its mesh was.
  std::vector<std::string> contacts = e.seed_addresses;
  for (const auto& address : known_peers_) {
    if (std::find(contacts.begin(), contacts.end(), address) == contacts.end()) contacts.push_back(address);
  }
  membership_.join(now_ms_, contacts);
  if (contacts.empty() && replicas_.empty()) return found_mesh();
  // A group this replica is the only voter of has nobody to wait for.
  for (auto& [p, r] : replicas_) {
    if (r.raft->voters() == std::vector<std::string>{replica_id_}) r.raft->campaign(now_ms_);
  }
}

void NodeState::on(const in::FromPeer& e) {
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Ping> || std::is_same_v<T, PingReq> || std::is_same_v<T, Ack> ||
                      std::is_same_v<T, Sync>) {
          membership_.receive(now_ms_, e.message);
        } else {
          on_peer(m);
        }
      },
      e.message);
}

// --- committed ops --------------------------------------------------------------------

void NodeState::on_applied(uint32_t partition, Replica& r, const TaskOp& op, const Status& status) {
  const std::string& id = op_task_id(op);
  const TaskKey key{partition, id};
  const TaskRecord* record = r.table.find(id);
  if (std::holds_alternative<OpSubmit>(op) && status.ok()) task_partition_.emplace(id, partition);
  // An outcome of an attempt run here is settled once its op is applied on
  // this node's replica, whoever proposed it.
  if (record != nullptr && !record->attempts.empty() && pending_results_.count(key) &&
      (std::holds_alternative<OpComplete>(op) || std::holds_alternative<OpFail>(op))) {
    settle_result(key, std::holds_alternative<OpComplete>(op) ? std::get<OpComplete>(op).attempt
                                                              : std::get<OpFail>(op).attempt);
  }
  if (!r.leading) return;
  std::visit(
      [&](const auto& o) {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, OpSubmit>) {
          if (status.ok()) count("tasks_submitted");
          settle_submits(key, record);
        } else if constexpr (std::is_same_v<T, OpLease>) {
          bool own = o.owner == config_.node_id && leasing_.erase(key) > 0;
          if (own && status.ok()) {
            // It starts once a slot is free (start_waiting_runs): maybe at once.
            enter_run(key, Run{partition, o.attempt, 0, {}, 0, run_task_of(*record, partition, o.attempt)});
            count("attempts_started");
          }
          if (grant_of_task_.count(key)) settle_grants(key, *record);
          if (status.ok() && o.backup) count("backup_attempts_started");
        } else if constexpr (std::is_same_v<T, OpComplete>) {
          if (status.ok()) count("tasks_completed");
          if (const AttemptInfo* a = status.ok() ? find_attempt(*record, o.attempt) : nullptr; a && a->backup) {
            count("backup_attempts_won");
          }
          if (record != nullptr) acknowledge_results(key, o.attempt, *record);
        } else if constexpr (std::is_same_v<T, OpRelease>) {
          if (status.ok() && record->state == TaskState::kFailed) {
            count("tasks_dead_lettered");
            count("tasks_dead_lettered_lost_runners");
          }
        } else if constexpr (std::is_same_v<T, OpFail>) {
          if (record != nullptr) acknowledge_results(key, o.attempt, *record);
          if (status.ok()) {
            if (o.outcome == AttemptOutcome::kTimedOut) count("attempts_timed_out");
            if (record->state == TaskState::kFailed) {
              count("tasks_dead_lettered");
            } else if (o.outcome != AttemptOutcome::kTimedOut) {
              count("attempts_failed");
            }
          }
        } else if constexpr (std::is_same_v<T, OpCancel>) {
          if (status.ok()) count("tasks_cancelled");
        } else if constexpr (std::is_same_v<T, OpRetry>) {
          if (status.ok()) count("tasks_retried");
          settle_cancels(key, record);
        }
      },
      op);
  if (record == nullptr) return;
  reindex(partition, *record, status.ok() && std::holds_alternative<OpRenew>(op));
  if (status.ok() && is_terminal(record->state)) out_.finished.push_back(*record);
}

NodeState::Lease NodeState::lease_on_this_clock(uint32_t partition, const TaskRecord& r, uint32_t attempt,
                                               const Lease* previous, bool renewed) const {
  MESH_ASSERT(is_current_lease(r, attempt), "a lease is entered for a running attempt");
  const std::string& owner = attempt == r.attempt ? r.lease_owner : r.backup.owner;
  Lease lease{partition, attempt, owner, now_ms_ + config_.lease_ttl_ms, now_ms_ + r.spec.timeout_ms, false};
  lease.run_started_ms = now_ms_;
  if (previous != nullptr && previous->attempt == attempt) {
    lease.run_started_ms = previous->run_started_ms;
    lease.timeout_at_ms = previous->timeout_at_ms;
    if (!renewed) lease.deadline_ms = previous->deadline_ms;
  }
  return lease;
}

void NodeState::enter_leases(uint32_t partition, const TaskRecord& r, const std::map<uint32_t, Lease>& previous,
                             bool renewed) {
  const TaskKey key{partition, r.spec.id};
  for (uint32_t attempt : {r.attempt, r.backup.attempt}) {
    if (attempt == 0) continue;
    auto before = previous.find(attempt);
    leases_[LeaseKey{key, attempt}] =
        lease_on_this_clock(partition, r, attempt, before == previous.end() ? nullptr : &before->second, renewed);
  }
}

uint64_t NodeState::not_before_on_this_clock(const TaskRecord& r) const {
  return std::min(r.not_before_ms, saturating_add(now_ms_, r.spec.backoff_max_ms));
}

void NodeState::reindex(uint32_t partition, const TaskRecord& r, bool renewed) {
  const TaskKey id{partition, r.spec.id};
  ready_.remove(id);
  deps_->on_record(partition, r);
  std::map<uint32_t, Lease> previous;  // by attempt
  auto [first_lease, after_leases] = leases_of(id);
  for (auto it = first_lease; it != after_leases; ++it) previous.emplace(it->first.attempt, it->second);
  leases_.erase(first_lease, after_leases);
  // An own run whose lease ended (expired, timed out, cancelled) is stopped.
  if (auto run = runs_.find(id); run != runs_.end() && run->second.lender_address.empty() &&
                                 !is_current_lease(r, run->second.attempt, config_.node_id)) {
    out_.aborts.push_back({id.id, run->second.attempt, partition});
    runs_.erase(run);
  }
  if (r.state == TaskState::kPending) {
    ready_.push(id, r.spec.priority, not_before_on_this_clock(r), now_ms_);
  } else if (r.state == TaskState::kLeased) {
    enter_leases(partition, r, previous, renewed);
  } else if (is_terminal(r.state)) {
    settle_cancels(id, &r);
    auto [begin, end] = waiters_by_task_.equal_range(id);
    for (auto it = begin; it != end; ++it) {
      Waiter& w = waiters_.at(it->second);
      w.pending.erase(id);
      if (w.pending.empty()) completed_waiters_.insert(it->second);
    }
    waiters_by_task_.erase(begin, end);
  }
}

// --- scheduling on led partitions ------------------------------------------------------

void NodeState::expire_deadlines() {
  std::vector<LeaseKey> due;
  for (auto& [lease_key, lease] : leases_) {
    const TaskKey& id = lease_key.task;
    if (lease.ending || now_ms_ < lease.retry_at_ms) continue;
    bool ours = lease.owner == config_.node_id;
    bool runner_dead = !ours && node_dead(lease.owner);
    // An own attempt whose outcome waits to be delivered is not gone.
    bool runner_gone = ours && !runs_.count(id) && !leasing_.count(id) && !pending_results_.count(id);
    bool expired = now_ms_ >= lease.deadline_ms;
    // Another runner's silence means it is gone only if this leader heard a
    // majority of its group after the deadline: a leader cut off from
    // everyone hears no renewals either, and its release could still commit
    // once it is back. It checks again a heartbeat later (it steps down first
    // if it stays cut off).
    if (expired && !ours && !runner_dead && !timed_out(lease_key, lease) &&
        !replicas_.at(lease.partition).raft->heard_from_quorum_since(lease.deadline_ms)) {
      lease.retry_at_ms = now_ms_ + config_.replication.heartbeat_interval_ms;
      continue;
    }
    if (timed_out(lease_key, lease) || expired || runner_dead || runner_gone) due.push_back(lease_key);
  }
  for (const auto& lease_key : due) {
    const TaskKey& id = lease_key.task;
    Lease& lease = leases_.at(lease_key);
    const TaskRecord& r = *replicas_.at(lease.partition).table.find(id.id);
    bool ours = lease.owner == config_.node_id;
    // Which of the three: an expiry, and a death this node's membership
    // declared, are told apart in the attempt's error.
    std::string reason = ours ? (draining_ ? "given back unstarted: node draining" : "lease expired")
                         : now_ms_ >= lease.deadline_ms ? "lease expired: runner lost"
                                                        : "runner declared dead";
    // A proposal the group refuses (a leadership hand-over) is tried again
    // a heartbeat later: the lease stays due.
    bool proposed = false;
    if (timed_out(lease_key, lease)) {
      proposed = fail_attempt(lease.partition, r, lease.attempt, AttemptOutcome::kTimedOut,
                              "timed out after " + std::to_string(r.spec.timeout_ms) + " ms");
    } else if (propose(lease.partition,
                       OpRelease{id.id, lease.attempt, reason, now_ms_, config_.max_lost_attempts})) {
      proposed = true;
      lease.ending = true;
      count(ours ? "leases_expired" : "stolen_leases_expired");
    }
    if (!proposed) lease.retry_at_ms = now_ms_ + config_.replication.heartbeat_interval_ms;
  }
  expire_stealing_deadlines();
  for (auto& [waiter_id, w] : waiters_) {
    if (now_ms_ >= w.deadline_ms) completed_waiters_.insert(waiter_id);
  }
}

void NodeState::publish_load() {
  LoadDigest load;
  // Runnable now: what a thief could take. Tasks in backoff are not.
  load.pending = ready_.ready_size();
  load.free_slots = draining_ ? 0 : config_.slots - static_cast<uint32_t>(std::min<size_t>(running(), config_.slots));
  // The queue drains through this node's slots, and under placement also
  // through the runs it has out on other members.
  uint64_t draining_slots = config_.slots;
  if (config_.placement != Placement::kKey) {
    for (const auto& [id, lease] : leases_) draining_slots += lease.owner != config_.node_id && !lease.ending;
  }
  load.backlog_ms = load.pending * average_run_ms_ / std::max<uint64_t>(draining_slots, 1);
  load.slots = config_.slots;
  load.run_us = average_slot_us_;
  load.failure_permille = failure_permille_;
  // An unchanged digest is not news: gossiping it would only cost bandwidth.
  // Nor is health that moved by less than a tenth (run time) or 5 points.
  auto moved = [](uint64_t now, uint64_t before, uint64_t slack) {
    return (now > before ? now - before : before - now) > slack;
  };
  bool changed = !published_load_ || load.pending != published_load_->pending ||
                 load.free_slots != published_load_->free_slots || load.backlog_ms != published_load_->backlog_ms ||
                 load.slots != published_load_->slots ||
                 moved(load.run_us, published_load_->run_us, published_load_->run_us / 10) ||
                 moved(load.failure_permille, published_load_->failure_permille, 50);
  if (changed) {
    membership_.set_local_load(load);
    published_load_ = load;
  }
  next_load_publish_ms_ = now_ms_ + config_.membership.probe_interval_ms;
}

std::optional<uint64_t> NodeState::next_wake() const {
  std::optional<uint64_t> wake = ready_.next_ready_at();
  auto earliest = [&](uint64_t t) { wake = wake ? std::min(*wake, t) : t; };
  if (joined_) {
    earliest(next_load_publish_ms_);
    if (auto m = membership_.next_wake_ms()) earliest(*m);
    // Raft timers: heartbeats and elections. Groups keep no deadline public,
    // so the node ticks them at the heartbeat pace.
    if (!replicas_.empty()) earliest(now_ms_ + config_.replication.heartbeat_interval_ms / 2);
    if (led_partitions().size() > 0) earliest(next_reconcile_ms_);
  }
  for (const auto& [p, r] : replicas_) {
    if (r.raft->has_ready()) earliest(now_ms_);
  }
  for (const auto& [lease_key, lease] : leases_) {
    if (lease.ending) continue;
    // The timeout of an attempt waiting here for a slot has not started.
    uint64_t timeout_at_ms = waits_for_slot(lease_key.task, lease_key.attempt) ? UINT64_MAX : lease.timeout_at_ms;
    earliest(std::max(std::min(timeout_at_ms, lease.deadline_ms), lease.retry_at_ms));
  }
  for (const auto& [id, run] : runs_) {
    if (!run.waiting) earliest(run.timeout_at_ms);
  }
  for (const auto& [id, p] : pending_results_) earliest(p.next_send_ms);
  if (watching_for_stragglers_) earliest(next_backup_check_ms_);
  for (const auto& [id, route] : routes_) earliest(route.resend_at_ms);
  if (auto t = txns_->next_wake()) earliest(*t);
  if (auto t = deps_->next_wake()) earliest(*t);
  for (const auto& [id, f] : fanouts_) earliest(f.round_deadline_ms);
  if (steal_in_flight_until_ms_) {
    earliest(*steal_in_flight_until_ms_);
  } else if (steal_victim_seen_ && idle_with_free_slots()) {
    earliest(next_steal_ms_);
  }
  for (const auto& [id, w] : waiters_) earliest(w.deadline_ms);
  return wake;
}

// --- serving on a leader ----------------------------------------------------------------

Status NodeState::admit(const TaskSpec& spec, size_t unfinished_now) const {
  // A draining leader with a voter to hand the partition to takes the write:
  // it commits in the group, and the successor serves it (during the
  // hand-over itself the group refuses it, and the origin asks the
  // successor). With nobody to take over, the task would wait for the restart.
  if (draining_) {
    const Replica* r = replica(partition_of(spec.key.empty() ? spec.id : spec.key, config_.ring.partitions));
    if (r == nullptr || successor_of(*r).empty()) return Status(ErrorCode::kShuttingDown, "node is draining");
  }
  if (storage_full_) {
    return Status(ErrorCode::kStorageFull, "the disk of " + config_.node_id + " is nearly full: retry later");
  }
  if (Status s = validate(spec); !s.ok()) return s;
  if (unfinished_now >= config_.max_unfinished) {
    return Status(ErrorCode::kOverloaded,
                  "queue full (" + std::to_string(config_.max_unfinished) + " unfinished tasks): retry later");
  }
  return Status::Ok();
}

Status NodeState::validate(const TaskSpec& spec) const {
  if (!config_.handlers.count(spec.handler)) {
    return Status(ErrorCode::kUnknownHandler, "unknown handler '" + spec.handler + "'");
  }
  if (spec.handler == kExecHandler) {
    if (Status s = check_exec(config_.exec, spec.payload); !s.ok()) return s;
  }
  if (spec.max_attempts < 1 || spec.max_attempts > limits::kMaxAttempts) {
    return Status(ErrorCode::kInvalidArgument,
                  "max_attempts must be 1.." + std::to_string(limits::kMaxAttempts));
  }
  if (spec.timeout_ms < 1 || spec.timeout_ms > limits::kMaxTimeoutMs) {
    return Status(ErrorCode::kInvalidArgument, "timeout_ms must be 1.." + std::to_string(limits::kMaxTimeoutMs));
  }
  if (spec.backoff_base_ms > spec.backoff_max_ms || spec.backoff_max_ms > limits::kMaxTimeoutMs) {
    return Status(ErrorCode::kInvalidArgument, "backoff must satisfy base <= max <= timeout limit");
  }
  if (spec.after.size() > limits::kMaxParents) {
    return Status(ErrorCode::kInvalidArgument, "a task may wait for " + std::to_string(limits::kMaxParents) + " parents at most");
  }
  if (spec.shard_count > 0 && spec.shard_index >= spec.shard_count) {
    return Status(ErrorCode::kInvalidArgument, "shard_index must be below shard_count");
  }
  return Status::Ok();
}

size_t NodeState::unfinished() const {
  size_t n = 0;
  for (const auto& [p, r] : replicas_) {
    if (r.leading) n += r.table.unfinished();
  }
  return n;
}

void NodeState::serve_submit(const ReplyTo& to, uint32_t partition, std::vector<TaskSpec> tasks) {
  Replica* r = partition < config_.ring.partitions ? led(partition) : nullptr;
  if (r == nullptr) {
    count("routed_not_leader");
    return answer_route(to, RouteSubmitReply{to.handle, ErrorCode::kNotLeader, leader_address(partition), {}});
  }
  if (!r->raft->transfer_target().empty()) {
    // Handing leadership over refuses proposals: send the origin on to the
    // replica about to lead.
    count("routed_during_transfer");
    return answer_route(to, RouteSubmitReply{to.handle, ErrorCode::kNotLeader,
                                             address_of_replica(r->raft->transfer_target()), {}});
  }
  uint64_t part_id = next_handle_++;
  SubmitPart part{to, partition, std::move(tasks), {}, 0};
  part.outcomes.resize(part.tasks.size());
  // Proposed but not yet applied submits count too: one batch may reach
  // several partitions within one step.
  size_t unfinished_now = unfinished() + submits_in_flight_.size();
  for (size_t i = 0; i < part.tasks.size(); ++i) {
    const TaskSpec& spec = part.tasks[i];
    SubmitOutcome& outcome = part.outcomes[i];
    outcome.id = spec.id;
    auto fail = [&](const Status& s) {
      outcome.code = s.code();
      outcome.message = s.message();
      count("submit_rejected_" + std::string(error_name(s.code())));
    };
    if (const TaskRecord* existing = r->table.find(spec.id)) {
      if (!(existing->spec == spec)) {
        fail(Status(ErrorCode::kConflict, "task id reused with a different task"));
      } else {
        outcome.duplicate = true;
        outcome.state = existing->state;
        count("submit_duplicates");
      }
      continue;
    }
    const TaskKey key{partition, spec.id};
    bool in_flight = submit_waits_.count(key) > 0;
    if (!in_flight) {
      if (Status s = admit(spec, unfinished_now); !s.ok()) {
        fail(s);
        continue;
      }
      if (!propose(partition, OpSubmit{spec, partition, now_ms_})) {
        // The group refuses writes (a hand-over): the origin asks again.
        forget_part_waits(part_id);
        return answer_route(to, RouteSubmitReply{to.handle, ErrorCode::kNotLeader,
                                                 address_of_replica(r->raft->transfer_target()), {}});
      }
      submits_in_flight_.insert(key);
      ++unfinished_now;
    }
    outcome.duplicate = in_flight;
    submit_waits_.emplace(key, std::make_pair(part_id, i));
    ++part.waiting;
  }
  bool done = part.waiting == 0;
  submit_parts_.emplace(part_id, std::move(part));
  if (done) finish_submit_part(part_id);
}

void NodeState::settle_submits(const TaskKey& key, const TaskRecord* record) {
  submits_in_flight_.erase(key);
  auto [begin, end] = submit_waits_.equal_range(key);
  std::vector<uint64_t> finished;
  for (auto it = begin; it != end; ++it) {
    auto [part_id, index] = it->second;
    SubmitPart& part = submit_parts_.at(part_id);
    SubmitOutcome& outcome = part.outcomes[index];
    if (record == nullptr || !(record->spec == part.tasks[index])) {
      outcome.code = ErrorCode::kConflict;
      outcome.message = "task id reused with a different task";
    } else {
      outcome.state = record->state;
    }
    if (--part.waiting == 0) finished.push_back(part_id);
  }
  submit_waits_.erase(begin, end);
  for (uint64_t part_id : finished) finish_submit_part(part_id);
}

void NodeState::finish_submit_part(uint64_t part_id) {
  auto it = submit_parts_.find(part_id);
  SubmitPart part = std::move(it->second);
  submit_parts_.erase(it);
  answer_route(part.to, RouteSubmitReply{part.to.handle, ErrorCode::kOk, {}, std::move(part.outcomes)});
}

void NodeState::forget_part_waits(uint64_t part_id) {
  std::erase_if(submit_waits_, [&](const auto& wait) { return wait.second.first == part_id; });
}

void NodeState::fail_submit_parts(uint32_t partition) {
  std::vector<uint64_t> lost;
  for (const auto& [id, part] : submit_parts_) {
    if (part.partition == partition) lost.push_back(id);
  }
  for (uint64_t id : lost) {
    forget_part_waits(id);
    ReplyTo to = submit_parts_.at(id).to;
    submit_parts_.erase(id);
    // The entries may still commit under the next leader: the origin's
    // retry with the same ids then finds them.
    answer_route(to, RouteSubmitReply{to.handle, ErrorCode::kNotLeader, leader_address(partition), {}});
  }
}

std::optional<uint32_t> NodeState::led_partition_of(const std::string& id) const {
  auto [begin, end] = task_partition_.equal_range(id);
  for (auto it = begin; it != end; ++it) {
    if (leads(it->second)) return it->second;
  }
  return std::nullopt;
}

FanoutReply NodeState::serve_get(const GetRequest& q) const {
  GetReply reply;
  for (const auto& id : q.ids) {
    if (auto p = led_partition_of(id)) {
      reply.records.push_back(*replicas_.at(*p).table.find(id));
    } else {
      reply.missing.push_back(id);
    }
  }
  return FanoutReply{0, config_.node_id, led_partitions(), std::move(reply)};
}

namespace {
// A record without its bulk: what a caller needs to find and count tasks.
TaskRecord brief_record(const TaskRecord& r) {
  TaskRecord brief = r;
  brief.spec.payload.clear();
  brief.spec.after.clear();
  brief.error.clear();
  brief.result.clear();
  brief.inputs.clear();
  brief.attempts.clear();
  return brief;
}
}  // namespace

FanoutReply NodeState::serve_list(const ListRequest& q) const {
  ListReply reply;
  for (const auto& [p, r] : replicas_) {
    if (!r.leading) continue;
    const auto& records = r.table.records();
    size_t taken = 0;
    for (auto it = records.upper_bound(q.after_id); it != records.end(); ++it) {
      if (!q.any_state && it->second.state != q.state) continue;
      if (!q.txn.empty() && it->second.txn != q.txn) continue;
      if (taken++ == q.limit) {
        reply.more = true;
        break;
      }
      reply.records.push_back(q.brief ? brief_record(it->second) : it->second);
    }
  }
  std::sort(reply.records.begin(), reply.records.end(),
            [](const TaskRecord& a, const TaskRecord& b) { return a.spec.id < b.spec.id; });
  if (reply.records.size() > q.limit) {
    reply.records.resize(q.limit);
    reply.more = true;
  }
  return FanoutReply{0, config_.node_id, led_partitions(), std::move(reply)};
}

void NodeState::serve_wait(const ReplyTo& to, const WaitRequest& q) {
  uint64_t id = next_handle_++;
  uint64_t deadline_ms = q.timeout_ms > UINT64_MAX - now_ms_ ? UINT64_MAX : now_ms_ + q.timeout_ms;
  Waiter w{to, led_partitions(), {}, q.ids, q.all, deadline_ms};
  // A wait for all tasks ignores its ids (see WaitRequest).
  if (!q.all) {
    for (const auto& task_id : q.ids) {
      auto p = led_partition_of(task_id);
      if (!p) continue;
      const TaskRecord* r = replicas_.at(*p).table.find(task_id);
      TaskKey key{*p, task_id};
      if (!is_terminal(r->state) && w.pending.insert(key).second) waiters_by_task_.emplace(key, id);
    }
  }
  bool done = !q.all && w.pending.empty();
  waiters_.emplace(id, std::move(w));
  if (done) completed_waiters_.insert(id);
}

void NodeState::resolve_waiters() {
  bool none_unfinished = unfinished() == 0;
  for (auto& [id, w] : waiters_) {
    if (w.all ? none_unfinished : w.pending.empty()) completed_waiters_.insert(id);
  }
  std::set<uint64_t> due;
  due.swap(completed_waiters_);
  for (uint64_t id : due) {
    if (waiters_.count(id)) reply_wait(id);
  }
}

void NodeState::reply_wait(uint64_t waiter_id) {
  Waiter w = std::move(waiters_.at(waiter_id));
  waiters_.erase(waiter_id);
  for (const auto& id : w.pending) {
    auto [begin, end] = waiters_by_task_.equal_range(id);
    for (auto it = begin; it != end;) it = it->second == waiter_id ? waiters_by_task_.erase(it) : std::next(it);
  }
  WaitReply reply;
  for (const auto& id : w.ids) {
    if (auto p = led_partition_of(id)) {
      reply.records.push_back(*replicas_.at(*p).table.find(id));
    } else {
      reply.missing.push_back(id);
    }
  }
  reply.unfinished = unfinished();
  reply.timed_out = w.all ? reply.unfinished > 0 : !w.pending.empty();
  answer(w.to, FanoutReply{w.to.handle, config_.node_id, std::move(w.covered), std::move(reply)});
}

void NodeState::serve_task_ends(const ReplyTo& to, const std::vector<std::string>& ids, bool retry) {
  uint64_t cancel_id = next_handle_++;
  CancelWait c{to, led_partitions(), {}, 0, retry};
  for (const auto& id : ids) {
    CancelOutcome outcome{id, ErrorCode::kNotFound, retry ? TaskState::kFailed : TaskState::kCancelled};
    if (auto p = led_partition_of(id)) {
      const TaskRecord& r = *replicas_.at(*p).table.find(id);
      TaskOp op = retry ? TaskOp(OpRetry{id, now_ms_}) : TaskOp(OpCancel{id, now_ms_});
      if (retry ? r.state != TaskState::kFailed : is_terminal(r.state)) {
        outcome.code = retry ? ErrorCode::kConflict : ErrorCode::kAlreadyTerminal;
        outcome.state = r.state;
      } else if (propose(*p, op)) {
        outcome.code = ErrorCode::kOk;
        outcome.state = r.state;  // CANCELLED (or PENDING) once committed
        cancels_by_task_.emplace(TaskKey{*p, id}, std::make_pair(cancel_id, c.outcomes.size()));
        ++c.waiting;
      } else {
        outcome.code = ErrorCode::kNotLeader;
      }
    }
    c.outcomes.push_back(std::move(outcome));
  }
  if (c.waiting == 0) return answer_outcomes(std::move(c));
  cancel_waits_.emplace(cancel_id, std::move(c));
}

void NodeState::serve_cancel(const ReplyTo& to, const CancelRequest& q) { serve_task_ends(to, q.ids, false); }

void NodeState::settle_cancels(const TaskKey& id, const TaskRecord* record) {
  auto [begin, end] = cancels_by_task_.equal_range(id);
  std::vector<uint64_t> finished;
  for (auto it = begin; it != end; ++it) {
    auto [cancel_id, index] = it->second;
    CancelWait& c = cancel_waits_.at(cancel_id);
    CancelOutcome& outcome = c.outcomes[index];
    if (record == nullptr) {
      outcome.code = ErrorCode::kNotFound;
    } else if (c.retry) {
      outcome.state = record->state;
      outcome.code = is_terminal(record->state) ? ErrorCode::kConflict : ErrorCode::kOk;
    } else {
      outcome.state = record->state;
      outcome.code = record->state == TaskState::kCancelled ? ErrorCode::kOk : ErrorCode::kAlreadyTerminal;
    }
    if (--c.waiting == 0) finished.push_back(cancel_id);
  }
  cancels_by_task_.erase(begin, end);
  for (uint64_t cancel_id : finished) {
    CancelWait c = std::move(cancel_waits_.at(cancel_id));
    cancel_waits_.erase(cancel_id);
    answer_outcomes(std::move(c));
  }
}

void NodeState::answer_outcomes(CancelWait c) {
  Reply reply = c.retry ? Reply(RetryReply{std::move(c.outcomes)}) : Reply(CancelReply{std::move(c.outcomes)});
  ReplyTo to = c.to;
  answer(to, FanoutReply{to.handle, config_.node_id, std::move(c.covered), std::move(reply)});
}

// --- views ------------------------------------------------------------------------------

const PartitionTable& NodeState::partition_table() const {
  if (!table_cache_ || table_cache_version_ != membership_.live_version()) {
    table_cache_ = PartitionTable::compute(config_.ring, membership_.live_ids());
    table_cache_version_ = membership_.live_version();
  }
  return *table_cache_;
}

MembersReply NodeState::members_view() const {
  MembersReply reply;
  reply.node_id = config_.node_id;
  reply.members = membership_.members();
  return reply;
}

PartitionsReply NodeState::partitions_view() const {
  const PartitionTable& table = partition_table();
  PartitionsReply reply;
  reply.node_id = config_.node_id;
  reply.partitions = table.partitions();
  reply.replicas = table.replica_count();
  reply.digest = table.digest();
  for (uint32_t p = 0; p < table.partitions(); ++p) reply.table.push_back({p, table.replicas(p)});
  for (const auto& [id, s] : table.summary()) {
    reply.shares.push_back({id, s.partitions_led, s.replicas_held, s.key_share_ppm});
  }
  for (const auto& [p, r] : replicas_) {
    RaftStatus st = r.raft->status();
    std::string role = r.halted ? "halted" : std::string(role_name(st.role));
    GroupInfo g{p, role, st.term, st.leader, st.commit_index, st.applied_index, st.last_index, st.voters, {}};
    for (const auto& f : st.followers) g.lag.push_back({f.id, st.last_index - std::min(f.match_index, st.last_index)});
    reply.groups.push_back(std::move(g));
  }
  return reply;
}

StealsReply NodeState::steals_view() const {
  StealsReply reply;
  reply.node_id = config_.node_id;
  reply.enabled = config_.steal.enabled;
  reply.recent.assign(steal_history_.recent().begin(), steal_history_.recent().end());
  reply.totals = steal_history_.totals();
  static const char* kStealCounters[] = {
      "steal_requests_sent",      "steal_requests_received",  "steal_requests_unanswered", "steal_grants_empty",
      "tasks_stolen",             "tasks_lent",               "stolen_attempts_finished",  "stolen_results_accepted",
      "stolen_results_committed", "stolen_results_fenced",    "stolen_results_resent",     "stolen_results_abandoned",
      "stolen_leases_renewed",    "stolen_leases_expired",    "stolen_attempts_timed_out", "stale_completions_rejected"};
  for (const char* name : kStealCounters) {
    auto it = counters_.find(name);
    reply.counters[name] = it == counters_.end() ? 0 : it->second;
  }
  return reply;
}

std::map<std::string, int64_t> NodeState::gauges() const {
  std::map<std::string, int64_t> g;
  size_t by_state[kTaskStateCount] = {};
  size_t led = 0;
  for (const auto& [p, r] : replicas_) {
    if (!r.leading) continue;
    ++led;
    for (uint8_t i = 0; i < kTaskStateCount; ++i) by_state[i] += r.table.count_in(static_cast<TaskState>(i));
  }
  for (uint8_t i = 0; i < kTaskStateCount; ++i) {
    std::string name = state_name(static_cast<TaskState>(i));
    std::transform(name.begin(), name.end(), name.begin(), [](char c) { return static_cast<char>(std::tolower(c)); });
    g["tasks_" + name] = static_cast<int64_t>(by_state[i]);
  }
  g["tasks_ready"] = static_cast<int64_t>(ready_.ready_size());
  g["tasks_in_backoff"] = static_cast<int64_t>(ready_.deferred_size());
  g["slots_total"] = config_.slots;
  g["slots_free"] = static_cast<int64_t>(config_.slots) - static_cast<int64_t>(running());
  // The health adaptive placement weighs, as gossiped in the load digest.
  g["run_us"] = static_cast<int64_t>(average_slot_us_);
  g["failure_permille"] = failure_permille_;
  g["partitions_hosted"] = static_cast<int64_t>(replicas_.size());
  g["partitions_led"] = static_cast<int64_t>(led);
  g["txns_in_doubt"] = static_cast<int64_t>(txns_->in_doubt());
  g["dependency_watched_tasks"] = static_cast<int64_t>(deps_->watched_children());
  g["tasks_borrowed"] = static_cast<int64_t>(std::count_if(
      runs_.begin(), runs_.end(), [](const auto& run) { return !run.second.lender_address.empty(); }));
  g["draining"] = draining_ ? 1 : 0;
  g["storage_full"] = storage_full_ ? 1 : 0;
  return g;
}

}  // namespace mesh
