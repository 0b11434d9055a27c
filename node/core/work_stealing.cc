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
  return config_.steal.enabled && joined_ && !draining_ && ready_.ready_size() == 0 && running() < config_.slots;
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
    borrowed_[t.id] = Borrowed{m.victim_address, t.attempt, now_ms_ + t.timeout_ms};
    out_.runs.push_back({t.id, t.attempt, t.handler, t.payload, t.timeout_ms});
  }
  count("tasks_stolen", m.tasks.size());
  note_steal(m.victim_id, config_.node_id, m.tasks.size());
}

void NodeState::finish_borrowed(const in::TaskFinished& e) {
  auto it = borrowed_.find(e.id);
  if (it->second.attempt != e.attempt) {
    count("stale_completions_rejected");
    return;
  }
  StolenResult result{config_.node_id, config_.address, e.id, e.attempt, e.ok, e.output};
  send(it->second.owner_address, result);
  // Resent until the owner acknowledges; past a few lease lengths the owner
  // has long expired the lease and re-run the task, so give up then.
  pending_results_[e.id] = PendingResult{it->second.owner_address, std::move(result),
                                         now_ms_ + config_.steal.result_retry_ms, now_ms_ + 3 * config_.lease_ttl_ms};
  borrowed_.erase(it);
  count("stolen_attempts_finished");
}

void NodeState::renew_borrowed(const std::vector<std::pair<std::string, uint32_t>>& running) {
  std::map<std::string, LeaseRenewal> by_owner;
  for (const auto& [id, attempt] : running) {
    auto it = borrowed_.find(id);
    if (it == borrowed_.end() || it->second.attempt != attempt) continue;
    LeaseRenewal& renewal = by_owner[it->second.owner_address];
    renewal.thief_id = config_.node_id;
    renewal.running.push_back({id, attempt});
  }
  for (auto& [owner, renewal] : by_owner) send(owner, std::move(renewal));
}

void NodeState::on_peer(const StolenResultAck& m) {
  auto it = pending_results_.find(m.id);
  if (it == pending_results_.end() || it->second.result.attempt != m.attempt) return;
  pending_results_.erase(it);
  count(m.accepted ? "stolen_results_committed" : "stolen_results_fenced");
}

void NodeState::expire_stealing_deadlines() {
  for (auto it = borrowed_.begin(); it != borrowed_.end();) {
    if (now_ms_ < it->second.timeout_at_ms) {
      ++it;
      continue;
    }
    // The owner fails the attempt at the same deadline; stop the run here.
    out_.aborts.push_back({it->first, it->second.attempt});
    count("stolen_attempts_timed_out");
    it = borrowed_.erase(it);
  }
  for (auto it = pending_results_.begin(); it != pending_results_.end();) {
    PendingResult& p = it->second;
    if (now_ms_ >= p.give_up_ms) {
      count("stolen_results_abandoned");
      it = pending_results_.erase(it);
      continue;
    }
    if (now_ms_ >= p.next_send_ms) {
      send(p.owner_address, p.result);
      p.next_send_ms = now_ms_ + config_.steal.result_retry_ms;
      count("stolen_results_resent");
    }
    ++it;
  }
}

// --- victim --------------------------------------------------------------------------

void NodeState::on_peer(const StealRequest& m) {
  count("steal_requests_received");
  StealGrant grant{config_.node_id, config_.address, {}};
  if (config_.steal.enabled && !draining_) {
    // Keep what this node's own free slots would take; lend half the rest.
    size_t free = config_.slots > running() ? config_.slots - running() : 0;
    size_t ready = ready_.ready_size();
    size_t excess = ready > free ? ready - free : 0;
    size_t n = std::min<size_t>({m.want, config_.steal.batch_max, excess / 2});
    // A grant must fit in one frame: payloads count toward it.
    size_t grant_bytes = 0;
    auto ids = ready_.take_last(n, [&](const std::string& id) {
      const TaskRecord& r = *table_.find(id);
      if (!r.spec.stealable || grant_bytes + r.spec.payload.size() > limits::kMaxFrameBytes / 2) return false;
      grant_bytes += r.spec.payload.size();
      return true;
    });
    for (const auto& id : ids) {
      const TaskRecord& r = *table_.find(id);
      uint32_t attempt = r.attempt + 1;
      apply(OpLease{id, attempt, m.thief_id, now_ms_, now_ms_ + config_.lease_ttl_ms, now_ms_ + r.spec.timeout_ms});
      const TaskRecord& leased = *table_.find(id);
      grant.tasks.push_back({id, attempt, leased.spec.handler, leased.spec.payload, leased.spec.timeout_ms});
    }
    if (!ids.empty()) {
      count("tasks_lent", ids.size());
      note_steal(config_.node_id, m.thief_id, ids.size());
    }
  }
  // The leases are in this step's writes, which the driver syncs before sending.
  send(m.thief_address, std::move(grant));
}

bool NodeState::lent_to(const std::string& id, uint32_t attempt, const std::string& thief) const {
  auto it = lent_.find(id);
  return it != lent_.end() && it->second == attempt && table_.find(id)->lease_owner == thief;
}

void NodeState::on_peer(const LeaseRenewal& m) {
  for (const auto& ref : m.running) {
    if (!lent_to(ref.id, ref.attempt, m.thief_id)) continue;
    apply(OpRenew{ref.id, ref.attempt, now_ms_ + config_.lease_ttl_ms});
    count("stolen_leases_renewed");
  }
}

void NodeState::on_peer(const StolenResult& m) {
  bool accepted = false;
  if (lent_to(m.id, m.attempt, m.thief_id)) {
    accepted = true;
    if (m.ok) {
      apply(OpComplete{m.id, m.attempt, m.output, now_ms_});
      count("tasks_completed");
    } else {
      fail_attempt(m.id, m.attempt, AttemptOutcome::kFailed, m.output);
    }
    count("stolen_results_accepted");
  } else if (const TaskRecord* r = table_.find(m.id);
             r != nullptr && !r->attempts.empty() && r->attempts.back().attempt == m.attempt &&
             r->attempts.back().runner == m.thief_id &&
             r->attempts.back().outcome == (m.ok ? AttemptOutcome::kSucceeded : AttemptOutcome::kFailed)) {
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
