#include "node/core/node_state.h"

#include <algorithm>

#include "node/core/assert.h"
#include "node/core/backoff.h"
#include "node/core/partitioning.h"
#include "protocol/limits.h"

namespace mesh {

std::string error_text(std::string text) {
  if (text.size() > limits::kMaxErrorBytes) text.resize(limits::kMaxErrorBytes);
  return text;
}

NodeState::NodeState(NodeConfig config, Random& random)
    : config_(std::move(config)),
      random_(random),
      ready_(config_.aging_interval_ms),
      membership_(config_.membership, config_.node_id, config_.address, random_) {}

Effects NodeState::step(const Input& input) {
  now_ms_ = input.now_ms;
  out_ = Effects{};
  dirty_.clear();
  std::visit([this](const auto& e) { on(e); }, input.event);
  expire_deadlines();
  dispatch();
  maybe_steal();
  resolve_waiters();
  if (joined_) {
    if (now_ms_ >= next_load_publish_ms_) publish_load();
    membership_.tick(now_ms_);
  }

  for (const auto& id : dirty_) out_.writes.push_back(*table_.find(id));
  for (auto& message : membership_.take_outbox()) out_.sends.push_back(std::move(message));
  out_.wake_at_ms = next_wake();
  return std::move(out_);
}

// --- inputs ------------------------------------------------------------------

void NodeState::on(const in::Submit& e) {
  SubmitReply reply;
  reply.outcomes.reserve(e.tasks.size());
  for (const auto& spec : e.tasks) reply.outcomes.push_back(submit_one(spec));
  out_.replies.push_back({e.request, std::move(reply)});
}

Status NodeState::validate(const TaskSpec& spec) const {
  if (!config_.handlers.count(spec.handler)) {
    return Status(ErrorCode::kUnknownHandler, "unknown handler '" + spec.handler + "'");
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
  return Status::Ok();
}

SubmitOutcome NodeState::submit_one(TaskSpec spec) {
  SubmitOutcome outcome;
  if (spec.id.empty()) {
    // Ids drawn from the node's random source: unique in practice, and
    // reproducible under the simulator.
    char buf[40];
    std::snprintf(buf, sizeof buf, "t-%016llx%08llx", static_cast<unsigned long long>(random_.next_u64()),
                  static_cast<unsigned long long>(random_.next_u64() & 0xffffffffu));
    spec.id = buf;
  }
  outcome.id = spec.id;
  auto fail = [&](const Status& s) {
    outcome.code = s.code();
    outcome.message = s.message();
    count("submit_rejected_" + std::string(error_name(s.code())));
    return outcome;
  };
  if (const TaskRecord* existing = table_.find(spec.id)) {
    if (!(existing->spec == spec)) return fail(Status(ErrorCode::kConflict, "task id reused with a different task"));
    outcome.duplicate = true;
    outcome.state = existing->state;
    count("submit_duplicates");
    return outcome;
  }
  if (draining_) return fail(Status(ErrorCode::kShuttingDown, "node is draining"));
  if (Status s = validate(spec); !s.ok()) return fail(s);
  if (table_.unfinished() >= config_.max_unfinished) {
    return fail(Status(ErrorCode::kOverloaded, "queue full (" + std::to_string(config_.max_unfinished) +
                                                   " unfinished tasks): retry later"));
  }
  uint32_t partition = partition_of(spec.key.empty() ? spec.id : spec.key, config_.ring.partitions);
  apply(OpSubmit{std::move(spec), partition, now_ms_});
  count("tasks_submitted");
  outcome.state = TaskState::kPending;
  return outcome;
}

void NodeState::on(const in::Cancel& e) {
  CancelReply reply;
  for (const auto& id : e.ids) {
    CancelOutcome outcome{id, ErrorCode::kOk, TaskState::kCancelled};
    const TaskRecord* r = table_.find(id);
    if (r == nullptr) {
      outcome.code = ErrorCode::kNotFound;
    } else if (is_terminal(r->state)) {
      outcome.code = ErrorCode::kAlreadyTerminal;
      outcome.state = r->state;
    } else {
      if (auto it = running_.find(id); it != running_.end()) out_.aborts.push_back({id, it->second});
      apply(OpCancel{id, now_ms_});
      count("tasks_cancelled");
    }
    reply.outcomes.push_back(std::move(outcome));
  }
  out_.replies.push_back({e.request, std::move(reply)});
}

void NodeState::on(const in::Wait& e) {
  uint64_t id = next_waiter_id_++;
  // timeout_ms comes straight off the wire; saturate so that a huge value
  // means "wait very long" instead of wrapping into an instant timeout.
  uint64_t deadline_ms = e.query.timeout_ms > UINT64_MAX - now_ms_ ? UINT64_MAX : now_ms_ + e.query.timeout_ms;
  Waiter w{e.request, {}, e.query.ids, e.query.all, deadline_ms};
  // A wait for all tasks ignores its ids (see WaitRequest): tracking them
  // would answer it, as timed out, as soon as those few became terminal.
  if (!e.query.all) {
    for (const auto& task_id : e.query.ids) {
      const TaskRecord* r = table_.find(task_id);
      if (r != nullptr && !is_terminal(r->state) && w.pending.insert(task_id).second) {
        waiters_by_task_.emplace(task_id, id);
      }
    }
  }
  waiters_.emplace(id, std::move(w));
}

void NodeState::on(const in::TaskFinished& e) {
  if (borrowed_.count(e.id)) return finish_borrowed(e);
  auto it = running_.find(e.id);
  if (it == running_.end() || it->second != e.attempt) {
    // The attempt timed out, was cancelled or lost its lease meanwhile.
    count("stale_completions_rejected");
    return;
  }
  if (e.ok) {
    uint64_t run_ms = now_ms_ - table_.find(e.id)->attempts.back().started_ms;
    // A moving average with weight 1/8: smooth, and cheap to keep.
    average_run_ms_ = average_run_ms_ == 0 ? run_ms : (average_run_ms_ * 7 + run_ms) / 8;
    apply(OpComplete{e.id, e.attempt, e.output, now_ms_});
    count("tasks_completed");
    return;
  }
  fail_attempt(e.id, e.attempt, AttemptOutcome::kFailed, e.output);
}

void NodeState::fail_attempt(const std::string& id, uint32_t attempt, AttemptOutcome outcome, std::string error) {
  const TaskRecord& r = *table_.find(id);
  uint64_t delay = backoff_delay_ms(r.spec.backoff_base_ms, r.spec.backoff_max_ms, r.failures + 1, random_);
  apply(OpFail{id, attempt, outcome, error_text(std::move(error)), now_ms_, now_ms_ + delay});
  if (outcome == AttemptOutcome::kTimedOut) count("attempts_timed_out");
  if (table_.find(id)->state == TaskState::kFailed) {
    count("tasks_dead_lettered");
  } else if (outcome != AttemptOutcome::kTimedOut) {
    count("attempts_failed");
  }
}

void NodeState::on(const in::RenewLeases& e) {
  renew_borrowed(e.running);
  for (const auto& [id, attempt] : e.running) {
    auto it = running_.find(id);
    if (it == running_.end() || it->second != attempt) continue;
    apply(OpRenew{id, attempt, now_ms_ + config_.lease_ttl_ms});
    count("leases_renewed");
  }
}

void NodeState::on(const in::Tick&) {}

void NodeState::on(const in::Recover& e) {
  for (const auto& record : e.records) table_.restore(record);
  for (const auto& [id, record] : table_.records()) {
    if (record.state == TaskState::kLeased) {
      // Whoever ran this attempt did so before the restart: its result can
      // no longer arrive, so the task goes back to the queue.
      dirty_.insert(id);
    } else {
      reindex(record);
    }
  }
  std::vector<std::string> lost(dirty_.begin(), dirty_.end());
  for (const auto& id : lost) {
    apply(OpRelease{id, table_.find(id)->attempt, "runner lost: node restarted", now_ms_});
    count("leases_lost_on_restart");
  }
  count("tasks_recovered", e.records.size());
}

void NodeState::on(const in::Drain&) {
  if (!draining_) membership_.leave(now_ms_);
  draining_ = true;
}

void NodeState::on(const in::Join& e) {
  joined_ = true;
  membership_.join(now_ms_, e.seed_addresses);
}

void NodeState::on(const in::FromPeer& e) {
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Ping> || std::is_same_v<T, PingReq> || std::is_same_v<T, Ack> ||
                      std::is_same_v<T, Sync>) {
          membership_.receive(now_ms_, e.message);
        } else if constexpr (std::is_same_v<T, RaftBatch>) {
          // Partitions are not replicated yet: no node sends these.
          count("raft_batches_ignored");
        } else {
          on_peer(m);
        }
      },
      e.message);
}

void NodeState::publish_load() {
  LoadDigest load;
  // Runnable now: what a thief could take. Tasks in backoff are not.
  load.pending = ready_.ready_size();
  load.free_slots = draining_ ? 0 : config_.slots - static_cast<uint32_t>(std::min<size_t>(running(), config_.slots));
  load.backlog_ms = load.pending * average_run_ms_ / std::max<uint32_t>(config_.slots, 1);
  // An unchanged digest is not news: gossiping it would only cost bandwidth.
  bool changed = !published_load_ || load.pending != published_load_->pending ||
                 load.free_slots != published_load_->free_slots || load.backlog_ms != published_load_->backlog_ms;
  if (changed) {
    membership_.set_local_load(load);
    published_load_ = load;
  }
  next_load_publish_ms_ = now_ms_ + config_.membership.probe_interval_ms;
}

const PartitionTable& NodeState::partition_table() const {
  if (!table_cache_ || table_cache_version_ != membership_.live_version()) {
    table_cache_ = PartitionTable::compute(config_.ring, membership_.live_ids());
    table_cache_version_ = membership_.live_version();
  }
  return *table_cache_;
}

// --- the core of every change ---------------------------------------------------

void NodeState::apply(const TaskOp& op) {
  Status s = table_.apply(op);
  MESH_ASSERT(s.ok(), s.message().c_str());
  const std::string& id = op_task_id(op);
  dirty_.insert(id);
  reindex(*table_.find(id));
}

void NodeState::reindex(const TaskRecord& r) {
  const std::string& id = r.spec.id;
  ready_.remove(id);
  running_.erase(id);
  lent_.erase(id);
  if (r.state == TaskState::kPending) {
    ready_.push(id, r.spec.priority, r.not_before_ms, now_ms_);
  } else if (r.state == TaskState::kLeased) {
    (r.lease_owner == config_.node_id ? running_ : lent_)[id] = r.attempt;
  } else if (is_terminal(r.state)) {
    auto [begin, end] = waiters_by_task_.equal_range(id);
    for (auto it = begin; it != end; ++it) {
      Waiter& w = waiters_.at(it->second);
      w.pending.erase(id);
      if (w.pending.empty()) completed_waiters_.insert(it->second);
    }
    waiters_by_task_.erase(begin, end);
  }
}

void NodeState::expire_deadlines() {
  std::vector<std::pair<std::string, uint32_t>> due;
  for (const auto* leases : {&running_, &lent_}) {
    for (const auto& [id, attempt] : *leases) {
      const TaskRecord& r = *table_.find(id);
      if (now_ms_ >= r.timeout_at_ms || now_ms_ >= r.lease_deadline_ms) due.emplace_back(id, attempt);
    }
  }
  for (const auto& [id, attempt] : due) {
    const TaskRecord& r = *table_.find(id);
    // A thief's run cannot be aborted from here; its late result is fenced.
    bool ours = running_.count(id) > 0;
    if (ours) out_.aborts.push_back({id, attempt});
    if (now_ms_ >= r.timeout_at_ms) {
      fail_attempt(id, attempt, AttemptOutcome::kTimedOut, "timed out after " + std::to_string(r.spec.timeout_ms) + " ms");
    } else {
      apply(OpRelease{id, attempt, ours ? "lease expired" : "lease expired: thief lost", now_ms_});
      count(ours ? "leases_expired" : "stolen_leases_expired");
    }
  }
  expire_stealing_deadlines();
  for (auto& [waiter_id, w] : waiters_) {
    if (now_ms_ >= w.deadline_ms) completed_waiters_.insert(waiter_id);
  }
}

void NodeState::dispatch() {
  ready_.promote(now_ms_);
  while (!draining_ && running() < config_.slots) {
    auto next = ready_.pop();
    if (!next) break;
    const TaskRecord& r = *table_.find(*next);
    uint32_t attempt = r.attempt + 1;
    apply(OpLease{*next, attempt, config_.node_id, now_ms_, now_ms_ + config_.lease_ttl_ms,
                  now_ms_ + r.spec.timeout_ms});
    const TaskRecord& leased = *table_.find(*next);
    out_.runs.push_back({*next, attempt, leased.spec.handler, leased.spec.payload, leased.spec.timeout_ms});
    count("attempts_started");
  }
}

void NodeState::resolve_waiters() {
  if (table_.unfinished() == 0) {
    for (const auto& [id, w] : waiters_) {
      if (w.all) completed_waiters_.insert(id);
    }
  }
  for (auto& [id, w] : waiters_) {
    if (!w.all && w.pending.empty()) completed_waiters_.insert(id);
  }
  for (uint64_t id : completed_waiters_) {
    auto it = waiters_.find(id);
    if (it == waiters_.end()) continue;
    bool done = it->second.all ? table_.unfinished() == 0 : it->second.pending.empty();
    reply_wait(id, !done);
  }
  completed_waiters_.clear();
}

void NodeState::reply_wait(uint64_t waiter_id, bool timed_out) {
  Waiter& w = waiters_.at(waiter_id);
  GetReply records = get(GetRequest{w.ids});
  WaitReply reply{timed_out, std::move(records.records), std::move(records.missing), table_.unfinished()};
  out_.replies.push_back({w.request, std::move(reply)});
  for (const auto& id : w.pending) {
    auto [begin, end] = waiters_by_task_.equal_range(id);
    for (auto it = begin; it != end;) it = it->second == waiter_id ? waiters_by_task_.erase(it) : std::next(it);
  }
  waiters_.erase(waiter_id);
}

std::optional<uint64_t> NodeState::next_wake() const {
  std::optional<uint64_t> wake = ready_.next_ready_at();
  auto earliest = [&](uint64_t t) { wake = wake ? std::min(*wake, t) : t; };
  if (joined_) {
    earliest(next_load_publish_ms_);
    if (auto m = membership_.next_wake_ms()) earliest(*m);
  }
  for (const auto* leases : {&running_, &lent_}) {
    for (const auto& [id, attempt] : *leases) {
      const TaskRecord& r = *table_.find(id);
      earliest(std::min(r.timeout_at_ms, r.lease_deadline_ms));
    }
  }
  for (const auto& [id, b] : borrowed_) earliest(b.timeout_at_ms);
  for (const auto& [id, p] : pending_results_) earliest(p.next_send_ms);
  if (steal_in_flight_until_ms_) {
    earliest(*steal_in_flight_until_ms_);
  } else if (steal_victim_seen_ && idle_with_free_slots()) {
    // Keep asking while the last look found someone to steal from; otherwise
    // the next gossip (a new load view) brings the node back here.
    earliest(next_steal_ms_);
  }
  for (const auto& [id, w] : waiters_) earliest(w.deadline_ms);
  return wake;
}

// --- reads -------------------------------------------------------------------------

GetReply NodeState::get(const GetRequest& request) const {
  GetReply reply;
  for (const auto& id : request.ids) {
    if (const TaskRecord* r = table_.find(id)) {
      reply.records.push_back(*r);
    } else {
      reply.missing.push_back(id);
    }
  }
  return reply;
}

ListReply NodeState::list(const ListRequest& request) const {
  ListReply reply;
  const auto& records = table_.records();
  for (auto it = records.upper_bound(request.after_id); it != records.end(); ++it) {
    if (!request.any_state && it->second.state != request.state) continue;
    if (reply.records.size() >= request.limit) {
      reply.more = true;
      break;
    }
    reply.records.push_back(it->second);
  }
  return reply;
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
  return reply;
}

StealsReply NodeState::steals_view() const {
  StealsReply reply;
  reply.node_id = config_.node_id;
  reply.enabled = config_.steal.enabled;
  reply.recent.assign(recent_steals_.begin(), recent_steals_.end());
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
  for (uint8_t i = 0; i < kTaskStateCount; ++i) {
    auto s = static_cast<TaskState>(i);
    std::string name = state_name(s);
    std::transform(name.begin(), name.end(), name.begin(), [](char c) { return static_cast<char>(std::tolower(c)); });
    g["tasks_" + name] = static_cast<int64_t>(table_.count_in(s));
  }
  g["tasks_ready"] = static_cast<int64_t>(ready_.ready_size());
  g["tasks_in_backoff"] = static_cast<int64_t>(ready_.deferred_size());
  g["slots_total"] = config_.slots;
  g["slots_free"] = static_cast<int64_t>(config_.slots) - static_cast<int64_t>(running());
  g["tasks_lent"] = static_cast<int64_t>(lent_.size());
  g["tasks_borrowed"] = static_cast<int64_t>(borrowed_.size());
  g["draining"] = draining_ ? 1 : 0;
  return g;
}

}  // namespace mesh
