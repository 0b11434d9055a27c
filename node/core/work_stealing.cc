// NodeState's work stealing: both the thief's side and the victim's side
// (the rules are in node_state.h).
#include "node/core/node_state.h"
#include "protocol/limits.h"

namespace mesh {

namespace {
constexpr size_t kRecentSteals = 100;
}  // namespace

void NodeState::send(const std::string& address, PeerMessage message) {
  out_.sends.push_back({address, std::move(message)});
}

// --- thief ---------------------------------------------------------------------------

bool NodeState::idle_with_free_slots() const {
  return config_.steal.enabled && joined_ && !draining_ && ready_.ready_size() == 0 &&
         running() + leasing_.size() < config_.slots;
}

std::vector<MemberView> NodeState::steal_candidates() const {
  // This node's own load is published only as of the last probe period, so
  // it is excluded by id rather than trusted to be below the threshold.
  auto candidates = membership_.members_where([&](MemberState state, const LoadDigest& load) {
    return state == MemberState::kAlive && load.pending >= config_.steal.threshold;
  });
  std::erase_if(candidates, [&](const MemberView& m) { return m.id == config_.node_id; });
  return candidates;
}

std::optional<MemberView> NodeState::choose_victim() {
  std::vector<MemberView> candidates = steal_candidates();
  if (candidates.empty()) return std::nullopt;
  // Power of two choices: nearly as good as the most loaded node, without
  // every idle node converging on the same victim.
  size_t n = candidates.size();
  size_t a = random_.uniform(n);
  size_t b = n > 1 ? (a + 1 + random_.uniform(n - 1)) % n : a;
  return candidates[candidates[b].load.pending > candidates[a].load.pending ? b : a];
}

void NodeState::maybe_steal() {
  if (steal_in_flight_until_ms_) {
    if (now_ms_ < *steal_in_flight_until_ms_) return;
    steal_in_flight_until_ms_.reset();
    count("steal_requests_unanswered");
  }
  if (!idle_with_free_slots() || now_ms_ < next_steal_ms_) return;
  // A scan of the load view is O(members): at most once per interval, and
  // not at all while the view is unchanged and held no victim last time.
  if (!steal_victim_seen_ && membership_.view_version() == steal_scanned_view_) return;
  steal_scanned_view_ = membership_.view_version();
  next_steal_ms_ = now_ms_ + config_.steal.interval_ms;
  auto victim = choose_victim();
  steal_victim_seen_ = victim.has_value();
  if (!victim) return;
  // Ask for the free slots plus one more round of them: a thief that takes
  // only what it can start now idles for a round trip after every task.
  uint32_t want = std::min<uint32_t>(2 * config_.slots - static_cast<uint32_t>(running()), config_.steal.batch_max);
  send(victim->address, StealRequest{config_.node_id, config_.address, want});
  steal_in_flight_until_ms_ = now_ms_ + config_.steal.request_timeout_ms;
  count("steal_requests_sent");
}

void NodeState::on_peer(const StealGrant& m) {
  steal_in_flight_until_ms_.reset();
  if (m.tasks.empty()) {
    count("steal_grants_empty");
    return;
  }
  for (const auto& t : m.tasks) {
    runs_[t.id] = Run{t.partition, t.attempt, now_ms_ + t.timeout_ms, m.victim_address};
    out_.runs.push_back(t);
  }
  count("tasks_stolen", m.tasks.size());
  note_steal(m.victim_id, config_.node_id, m.tasks.size());
}

// --- outcomes and renewals of attempts run here ----------------------------------------

void NodeState::report_outcome(const std::string& id, const Run& run, bool ok, std::string output) {
  if (!run.lender_address.empty()) count("stolen_attempts_finished");
  if (Replica* r = led(run.partition)) {
    const TaskRecord* record = r->table.find(id);
    if (record == nullptr || record->state != TaskState::kLeased || record->attempt != run.attempt ||
        record->lease_owner != config_.node_id) {
      count("stale_completions_rejected");
      return;
    }
    if (commit_outcome(run.partition, *record, run.attempt, ok, output)) return;
  }
  // The partition is led elsewhere (a stolen task, or leadership moved while
  // it ran, or is being handed over right now): its leader commits the
  // outcome; resend until it acknowledges.
  // Past a few lease lengths it has long expired the lease and re-run the
  // task, so give up then.
  PendingResult& p = pending_results_[id];
  p = PendingResult{run.partition, run.lender_address,
                    StolenResult{config_.node_id, config_.address, id, run.attempt, ok, std::move(output)}, 0,
                    now_ms_ + 3 * config_.lease_ttl_ms, 0};
  send_result(p);
}

void NodeState::send_result(PendingResult& p) {
  // Its lender first (it led the partition when it granted), then whoever
  // this node believes leads it, then the ring's replicas in turn.
  std::vector<std::string> targets;
  if (!p.lender_address.empty()) targets.push_back(p.lender_address);
  for (auto& c : route_candidates(p.partition)) {
    if (std::find(targets.begin(), targets.end(), c) == targets.end()) targets.push_back(std::move(c));
  }
  if (!targets.empty()) send(targets[p.sends % targets.size()], p.result);
  if (p.sends > 0) count("stolen_results_resent");
  ++p.sends;
  p.next_send_ms = now_ms_ + config_.steal.result_retry_ms;
}

void NodeState::renew_remote(const std::vector<std::pair<std::string, uint32_t>>& running) {
  std::map<std::string, LeaseRenewal> by_target;
  for (const auto& [id, attempt] : running) {
    const Run& run = runs_.at(id);
    std::string target = leader_address(run.partition);
    if (target.empty()) target = run.lender_address;
    if (target.empty()) {
      auto candidates = route_candidates(run.partition);
      if (candidates.empty()) continue;
      target = candidates.front();
    }
    LeaseRenewal& renewal = by_target[target];
    renewal.thief_id = config_.node_id;
    renewal.running.push_back({id, attempt});
  }
  for (auto& [target, renewal] : by_target) send(target, std::move(renewal));
}

void NodeState::on_peer(const StolenResultAck& m) {
  auto it = pending_results_.find(m.id);
  if (it == pending_results_.end() || it->second.result.attempt != m.attempt) return;
  pending_results_.erase(it);
  count(m.accepted ? "stolen_results_committed" : "stolen_results_fenced");
}

void NodeState::expire_stealing_deadlines() {
  for (auto it = runs_.begin(); it != runs_.end();) {
    if (now_ms_ < it->second.timeout_at_ms) {
      ++it;
      continue;
    }
    // The leader fails the attempt at the same deadline; stop the run here.
    out_.aborts.push_back({it->first, it->second.attempt});
    if (!it->second.lender_address.empty()) count("stolen_attempts_timed_out");
    it = runs_.erase(it);
  }
  for (auto it = pending_results_.begin(); it != pending_results_.end();) {
    PendingResult& p = it->second;
    if (now_ms_ >= p.give_up_ms) {
      count("stolen_results_abandoned");
      it = pending_results_.erase(it);
      continue;
    }
    if (now_ms_ >= p.next_send_ms) send_result(p);
    ++it;
  }
}

// --- victim --------------------------------------------------------------------------

void NodeState::on_peer(const StealRequest& m) {
  count("steal_requests_received");
  uint64_t grant_id = next_handle_++;
  PendingGrant& grant = grants_[grant_id];
  grant.thief_id = m.thief_id;
  grant.thief_address = m.thief_address;
  if (config_.steal.enabled && !draining_) {
    // Keep what this node's own free slots would take; lend half the rest.
    size_t busy = running() + leasing_.size();
    size_t free = config_.slots > busy ? config_.slots - busy : 0;
    size_t ready = ready_.ready_size();
    size_t excess = ready > free ? ready - free : 0;
    size_t n = std::min<size_t>({m.want, config_.steal.batch_max, excess / 2});
    // A grant must fit in one frame: payloads count toward it.
    size_t grant_bytes = 0;
    auto ids = ready_.take_last(n, [&](const std::string& id) {
      const TaskRecord& r = *find(id);
      if (!r.spec.stealable || grant_bytes + r.spec.payload.size() > limits::kMaxFrameBytes / 2) return false;
      grant_bytes += r.spec.payload.size();
      return true;
    });
    for (const auto& id : ids) {
      uint32_t partition = task_partition_.at(id);
      const TaskRecord& r = *find(id);
      // The lease is a log entry: the grant leaves once it is committed.
      if (propose(partition, OpLease{id, r.attempt + 1, m.thief_id, now_ms_, now_ms_ + config_.lease_ttl_ms,
                                     now_ms_ + r.spec.timeout_ms})) {
        grant_of_task_[id] = grant_id;
        ++grant.waiting;
      } else {
        ready_.push(id, r.spec.priority, not_before_on_this_clock(r), now_ms_);
      }
    }
  }
  if (grant.waiting == 0) send_grant(grant_id);
}

void NodeState::settle_grants(const std::string& id, const TaskRecord& record) {
  auto it = grant_of_task_.find(id);
  if (it == grant_of_task_.end()) return;
  uint64_t grant_id = it->second;
  grant_of_task_.erase(it);
  PendingGrant& grant = grants_.at(grant_id);
  if (record.state == TaskState::kLeased && record.lease_owner != config_.node_id) {
    grant.tasks.push_back(
        {id, record.attempt, record.spec.handler, record.spec.payload, record.spec.timeout_ms, record.partition});
  }
  if (--grant.waiting == 0) send_grant(grant_id);
}

void NodeState::send_grant(uint64_t grant_id) {
  auto it = grants_.find(grant_id);
  StealGrant grant{config_.node_id, config_.address, std::move(it->second.tasks)};
  PendingGrant pending = std::move(it->second);
  grants_.erase(it);
  if (pending.placement) {
    if (grant.tasks.empty()) return;  // nothing of it committed: no message
    count("tasks_placed", grant.tasks.size());
  } else if (!grant.tasks.empty()) {
    count("tasks_lent", grant.tasks.size());
    note_steal(config_.node_id, pending.thief_id, grant.tasks.size());
  }
  send(pending.thief_address, std::move(grant));
}

void NodeState::on_peer(const LeaseRenewal& m) {
  for (const auto& ref : m.running) {
    auto lease = leases_.find(ref.id);
    if (lease == leases_.end() || lease->second.attempt != ref.attempt || lease->second.owner != m.thief_id) continue;
    propose(lease->second.partition, OpRenew{ref.id, ref.attempt, now_ms_ + config_.lease_ttl_ms});
    count("stolen_leases_renewed");
  }
}

void NodeState::on_peer(const StolenResult& m) {
  auto where = task_partition_.find(m.id);
  Replica* r = where == task_partition_.end() ? nullptr : led(where->second);
  if (r == nullptr) {
    // Not the leader: say nothing, the runner tries the next candidate.
    count("results_for_other_leader");
    return;
  }
  bool accepted = false;
  const TaskRecord& record = *r->table.find(m.id);
  if (record.state == TaskState::kLeased && record.attempt == m.attempt && record.lease_owner == m.thief_id) {
    if (!commit_outcome(where->second, record, m.attempt, m.ok, m.output)) {
      // Leadership is being handed over: no answer, the runner resends.
      count("results_deferred");
      return;
    }
    accepted = true;
    count("stolen_results_accepted");
  } else if (!record.attempts.empty() && record.attempts.back().attempt == m.attempt &&
             record.attempts.back().runner == m.thief_id &&
             record.attempts.back().outcome == (m.ok ? AttemptOutcome::kSucceeded : AttemptOutcome::kFailed)) {
    accepted = true;  // a resend of a result already committed: the ack was lost
  } else {
    count("stale_completions_rejected");
  }
  send(m.thief_address, StolenResultAck{m.id, m.attempt, accepted});
}

void NodeState::note_steal(const std::string& victim, const std::string& thief, size_t tasks) {
  recent_steals_.push_back({now_ms_, victim, thief, static_cast<uint32_t>(tasks)});
  if (recent_steals_.size() > kRecentSteals) recent_steals_.pop_front();
}

}  // namespace mesh
