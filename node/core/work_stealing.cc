// NodeState's work stealing: both the thief's side and the victim's side
// (the rules are in node_state.h).
#include <algorithm>
#include <set>

#include "node/core/clock_math.h"
#include "node/core/node_state.h"
#include "protocol/limits.h"

namespace mesh {

namespace {
// The attempt's outcome is committed as this result says.
bool result_committed(const TaskRecord& record, const StolenResult& m) {
  const AttemptInfo* a = find_attempt(record, m.attempt);
  return a != nullptr && a->runner == m.thief_id &&
         a->outcome == (m.ok ? AttemptOutcome::kSucceeded : AttemptOutcome::kFailed);
}
}  // namespace

void NodeState::send(const std::string& address, PeerMessage message, bool after_sync) {
  out_.sends.push_back({address, std::move(message), after_sync});
}

// --- thief ---------------------------------------------------------------------------

bool NodeState::idle_with_free_slots() const {
  return config_.steal.enabled && joined_ && !draining_ && ready_.ready_size() == 0 &&
         running() + leasing_.size() < config_.slots;
}

bool NodeState::backlog_outlasts_own_runs(const LoadDigest& victim, uint64_t runs) const {
  return victim.backlog_ms == 0 || victim.backlog_ms >= runs * (average_slot_us_ / 1000);
}

std::vector<MemberView> NodeState::steal_candidates() const {
  // This node's own load is published only as of the last probe period, so
  // it is excluded by id rather than trusted to be below the threshold. A
  // victim is worth robbing only if it would not get to the tasks sooner
  // than this node would finish them, so a slow node leaves a short tail alone.
  auto candidates = membership_.members_where([&](MemberState state, const LoadDigest& load) {
    return state == MemberState::kAlive && load.pending >= config_.steal.threshold &&
           backlog_outlasts_own_runs(load, 1);
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
  // Not that second round if the victim would get to it sooner than this
  // node's first round ends (a slow thief).
  uint32_t free_slots = config_.slots - static_cast<uint32_t>(running());
  bool second_round = backlog_outlasts_own_runs(victim->load, 2);
  uint32_t want = std::min<uint32_t>(free_slots + (second_round ? config_.slots : 0), config_.steal.batch_max);
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
    enter_run(TaskKey{t.partition, t.id}, Run{t.partition, t.attempt, 0, m.victim_address, 0, t});
    // The lender led the partition when it granted: renewals start there.
    LeaderGuess& guess = leader_guesses_[t.partition] = LeaderGuess{};
    guess.address = guess.lender = m.victim_address;
  }
  start_waiting_runs();
  count("tasks_stolen", m.tasks.size());
  note_steal(m.victim_id, config_.node_id, m.tasks.size());
}

// --- outcomes and renewals of attempts run here ----------------------------------------

void NodeState::report_outcome(const TaskKey& key, const Run& run, bool ok, std::string output) {
  if (!run.lender_address.empty()) count("stolen_attempts_finished");
  // Kept (and its lease renewed) until a leader acknowledges or fences it: a
  // partition may stay leaderless for a while, and every new leader renews
  // the lease from the start. kResultLeaseLengths bounds the memory of a
  // result whose partition never comes back.
  PendingResult& p = pending_results_[key];
  p = PendingResult{StolenResult{config_.node_id, config_.address, key.id, run.attempt, ok, std::move(output),
                                 key.partition},
                    now_ms_, now_ms_ + kResultLeaseLengths * config_.lease_ttl_ms, 0, 0};
  if (!deliver_result(key, p)) pending_results_.erase(key);
}

bool NodeState::deliver_result(const TaskKey& key, PendingResult& p) {
  p.next_send_ms = now_ms_ + config_.steal.result_retry_ms;
  if (Replica* r = led(key.partition)) {
    // A leader keeps the entries of its term: one proposal is enough.
    if (p.proposed_in_term == r->raft->term()) return true;
    const TaskRecord* record = r->table.find(key.id);
    if (record == nullptr || !is_current_lease(*record, p.result.attempt, config_.node_id)) {
      if (record == nullptr || !result_committed(*record, p.result)) count("stale_completions_rejected");
      return false;
    }
    // Refused during a hand-over: tried again at next_send_ms.
    if (commit_outcome(key.partition, *record, p.result.attempt, p.result.ok, p.result.output)) {
      p.proposed_in_term = r->raft->term();
    }
    return true;
  }
  // The partition is led elsewhere (a stolen task, or leadership moved while
  // it ran): its leader commits the outcome.
  p.proposed_in_term = 0;
  give_up_on_silent_target(key.partition);
  std::string target = leader_guess(key.partition);
  if (!target.empty()) {
    send(target, p.result);
    note_unanswered(key.partition);
  }
  if (p.sends > 0) count("stolen_results_resent");
  ++p.sends;
  return true;
}

void NodeState::settle_result(const TaskKey& key, uint32_t attempt) {
  auto it = pending_results_.find(key);
  if (it == pending_results_.end() || it->second.result.attempt != attempt) return;
  pending_results_.erase(it);
}

bool NodeState::give_up_on_silent_target(uint32_t partition) {
  LeaderGuess& g = leader_guesses_[partition];
  if (!g.unanswered_since_ms || now_ms_ - *g.unanswered_since_ms < config_.steal.result_retry_ms) return false;
  // Neither acknowledged nor redirected for a resend period: that target may
  // be gone; the next candidate is tried.
  g.silent = g.address;
  g.silent_term = g.term;
  g.silent_until_ms = now_ms_ + config_.lease_ttl_ms / 2;
  g.address.clear();
  g.unanswered_since_ms.reset();
  ++g.misses;
  count("lease_renewal_targets_changed");
  return true;
}

void NodeState::note_unanswered(uint32_t partition) {
  LeaderGuess& g = leader_guesses_[partition];
  if (!g.unanswered_since_ms) g.unanswered_since_ms = now_ms_;
}

void NodeState::note_answered(uint32_t partition, const std::string& from_address) {
  LeaderGuess& g = leader_guesses_[partition];
  g.unanswered_since_ms.reset();
  if (g.silent == from_address) g.silent.clear();
}

std::string NodeState::leader_guess(uint32_t partition) {
  LeaderGuess& g = leader_guesses_[partition];
  if (g.address.empty()) {
    std::vector<std::string> candidates = route_candidates(partition);
    if (!g.lender.empty() && std::find(candidates.begin(), candidates.end(), g.lender) == candidates.end()) {
      candidates.insert(candidates.begin(), g.lender);
    }
    if (candidates.size() > 1 && now_ms_ < g.silent_until_ms) std::erase(candidates, g.silent);
    if (!candidates.empty()) g.address = candidates[g.misses % candidates.size()];
  }
  return g.address;
}

void NodeState::renew_remote(const std::vector<RunRef>& running, bool timed) {
  std::map<std::string, LeaseRenewal> by_target;
  std::set<uint32_t> partitions;
  for (const auto& ref : running) partitions.insert(ref.partition);
  for (uint32_t p : partitions) {
    if (!timed) continue;
    leader_guesses_[p].followed = false;
    give_up_on_silent_target(p);
  }
  for (const auto& ref : running) {
    std::string target = leader_guess(ref.partition);
    if (target.empty()) continue;
    note_unanswered(ref.partition);
    LeaseRenewal& renewal = by_target[target];
    renewal.thief_id = config_.node_id;
    renewal.thief_address = config_.address;
    renewal.running.push_back({ref.id, ref.attempt, ref.partition, ran_ms(TaskKey{ref.partition, ref.id})});
  }
  for (auto& [target, renewal] : by_target) send(target, std::move(renewal));
}

void NodeState::on_peer(const LeaderHints& m) {
  std::set<uint32_t> redirected;
  for (const auto& hint : m.partitions) {
    LeaderGuess& g = leader_guesses_[hint.partition];
    note_answered(hint.partition, m.from_address);
    // A sender behind on the partition's elections has a view of the leader
    // older than one already heard: believed neither when it claims to lead
    // nor when it names a leader.
    bool current = hint.term >= g.term;
    if (current) {
      g.term = hint.term;
    } else {
      count("leader_hints_stale");
    }
    if (hint.leads && current) {
      g.address = m.from_address;
      g.misses = 0;
      continue;
    }
    count("leader_hints_redirected");
    bool named = current && !hint.leader_address.empty() && hint.leader_address != config_.address &&
                 hint.leader_address != m.from_address &&
                 (hint.leader_address != g.silent || hint.term > g.silent_term || now_ms_ >= g.silent_until_ms);
    if (named) {
      g.address = hint.leader_address;
    } else {
      g.address.clear();  // nobody known: the next candidate
      ++g.misses;
    }
    // Once per renewal period at most: two nodes with stale views could
    // otherwise send a renewal back and forth for ever.
    if (!g.followed) redirected.insert(hint.partition);
    g.followed = true;
  }
  if (redirected.empty()) return;
  // Renew and resend at once at the new target: the lease may be short.
  std::vector<RunRef> renew;
  for (const auto& [key, run] : runs_) {
    if (redirected.count(key.partition) && !leads(key.partition)) renew.push_back({key.partition, key.id, run.attempt});
  }
  for (auto& [key, p] : pending_results_) {
    if (!redirected.count(key.partition)) continue;
    if (!leads(key.partition)) renew.push_back({key.partition, key.id, p.result.attempt});
    p.next_send_ms = now_ms_;
  }
  if (!renew.empty()) renew_remote(renew, /*timed=*/false);
}

void NodeState::on_peer(const StolenResultAck& m) {
  const TaskKey key{m.partition, m.id};
  auto it = pending_results_.find(key);
  if (it == pending_results_.end() || it->second.result.attempt != m.attempt) {
    // A fenced attempt still running here (fence_if_ended): its outcome
    // could never commit, so it stops now rather than hold a slot.
    if (auto run = runs_.find(key); !m.accepted && run != runs_.end() && run->second.attempt == m.attempt) {
      stop_fenced_run(run);
    }
    return;
  }
  pending_results_.erase(it);
  leader_guesses_[m.partition].unanswered_since_ms.reset();
  count(m.accepted ? "stolen_results_committed" : "stolen_results_fenced");
}

size_t NodeState::running() const {
  return std::count_if(runs_.begin(), runs_.end(), [](const auto& run) { return !run.second.waiting; });
}

void NodeState::start_waiting_runs() {
  if (draining_) return;
  size_t busy = running();
  for (auto& [key, run] : runs_) {
    if (busy >= config_.slots) return;
    if (!run.waiting) continue;
    run.started_ms = now_ms_;
    run.timeout_at_ms = saturating_add(now_ms_, run.waiting->timeout_ms);
    // An own lease times out from the start of its run, as a thief's does.
    if (auto lease = leases_.find(LeaseKey{key, run.attempt});
        lease != leases_.end() && lease->second.held_by(run.attempt, config_.node_id)) {
      lease->second.timeout_at_ms = run.timeout_at_ms;
    }
    out_.runs.push_back(std::move(*run.waiting));
    run.waiting.reset();
    ++busy;
  }
}

bool NodeState::waits_for_slot(const TaskKey& key, uint32_t attempt) const {
  auto run = runs_.find(key);
  return run != runs_.end() && run->second.attempt == attempt && run->second.waiting.has_value();
}

size_t NodeState::lease_ahead() const {
  constexpr uint64_t kLeaseRoundUs = 10'000;
  // Until a run is measured, runs are taken to be long: leasing the whole
  // allowance to a node would keep long tasks from thieves.
  uint64_t per_slot = average_slot_us_ == 0 ? 1 : std::max<uint64_t>(1, kLeaseRoundUs / average_slot_us_);
  return static_cast<size_t>(std::min<uint64_t>(config_.lease_ahead_max, config_.slots * per_slot));
}

uint64_t NodeState::ran_ms(const TaskKey& key) const {
  auto run = runs_.find(key);
  if (run == runs_.end() || run->second.waiting) return 0;
  return now_ms_ - std::min(now_ms_, run->second.started_ms);
}

void NodeState::rearm_timeout(Lease& lease, const TaskKey& key, uint64_t ran_ms) {
  const TaskRecord* record = replicas_.at(key.partition).table.find(key.id);
  if (record == nullptr) return;
  uint64_t left = record->spec.timeout_ms - std::min(record->spec.timeout_ms, ran_ms);
  lease.timeout_at_ms = std::max(lease.timeout_at_ms, saturating_add(now_ms_, left));
  lease.run_started_ms = std::min(lease.run_started_ms, now_ms_ - std::min(now_ms_, ran_ms));
}

void NodeState::expire_stealing_deadlines() {
  for (auto it = runs_.begin(); it != runs_.end();) {
    if (it->second.waiting || now_ms_ < it->second.timeout_at_ms) {
      ++it;
      continue;
    }
    // The leader fails the attempt at the same deadline; stop the run here.
    out_.aborts.push_back({it->first.id, it->second.attempt, it->first.partition});
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
    if (now_ms_ >= p.next_send_ms && !deliver_result(it->first, p)) {
      it = pending_results_.erase(it);
      continue;
    }
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
  // A thief this node's membership holds dead gets nothing: its leases
  // would be released at once as "runner declared dead", and each such
  // loss counts toward max_lost_attempts. It asks again once refuted.
  if (config_.steal.enabled && !draining_ && !node_dead(m.thief_id)) {
    // Keep what this node's own free slots would take; lend half the rest.
    size_t busy = running() + leasing_.size();
    size_t free = config_.slots > busy ? config_.slots - busy : 0;
    size_t ready = ready_.ready_size();
    size_t excess = ready > free ? ready - free : 0;
    size_t n = std::min<size_t>({m.want, config_.steal.batch_max, excess / 2});
    // A grant must fit in one frame: payloads and inputs count toward it.
    size_t grant_bytes = 0;
    auto keys = ready_.take_last(n, [&](const TaskKey& key) {
      const TaskTable& table = replicas_.at(key.partition).table;
      if (table.locked_by(key.id) != nullptr || lease_in_flight(key)) return false;  // held by a job cancel, or racing
      const TaskRecord& r = *table.find(key.id);
      size_t bytes = r.spec.payload.size();
      for (const auto& [parent, input] : r.inputs) bytes += input.size();
      if (!r.spec.stealable || grant_bytes + bytes > limits::kMaxFrameBytes / 2) return false;
      grant_bytes += bytes;
      return true;
    });
    for (const auto& key : keys) {
      const TaskRecord& r = *replicas_.at(key.partition).table.find(key.id);
      // The lease is a log entry: the grant leaves once it is committed.
      if (propose(key.partition, OpLease{key.id, next_attempt(r), m.thief_id, now_ms_, now_ms_ + config_.lease_ttl_ms,
                                         now_ms_ + r.spec.timeout_ms})) {
        grant_of_task_[key] = grant_id;
        ++grant.waiting;
      } else {
        ready_.push(key, r.spec.priority, not_before_on_this_clock(r), now_ms_);
      }
    }
  }
  if (grant.waiting == 0) send_grant(grant_id);
}

void NodeState::settle_grants(const TaskKey& key, const TaskRecord& record) {
  auto it = grant_of_task_.find(key);
  if (it == grant_of_task_.end()) return;
  uint64_t grant_id = it->second;
  grant_of_task_.erase(it);
  PendingGrant& grant = grants_.at(grant_id);
  // The runner's attempt: the lease, or the backup racing it.
  if (record.state == TaskState::kLeased && grant.thief_id != config_.node_id) {
    if (record.lease_owner == grant.thief_id) {
      grant.tasks.push_back(run_task_of(record, record.partition, record.attempt));
    } else if (record.backup.owner == grant.thief_id) {
      grant.tasks.push_back(run_task_of(record, record.partition, record.backup.attempt));
    }
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

// Whoever leads the partition now renews: leases are rebuilt from the
// table when leadership moves, so a renewal of the current attempt is
// accepted by any leader, not only the one that lent the task.
PartitionLeader NodeState::leader_hint(uint32_t partition) const {
  const Replica* r = replica(partition);
  bool leading = leads(partition);
  return PartitionLeader{partition, leading, leading ? "" : leader_address(partition),
                         r == nullptr ? 0 : r->raft->term()};
}

void NodeState::on_peer(const LeaseRenewal& m) {
  std::map<uint32_t, PartitionLeader> hints;
  for (const auto& ref : m.running) {
    hints.emplace(ref.partition, leader_hint(ref.partition));
    if (!leads(ref.partition)) continue;
    auto lease = leases_.find(LeaseKey{TaskKey{ref.partition, ref.id}, ref.attempt});
    if (lease == leases_.end() || !lease->second.held_by(ref.attempt, m.thief_id)) {
      fence_if_ended(ref, m.thief_id, m.thief_address);
      continue;
    }
    // The deadline this leader judges by moves now; the entry records it
    // for the table and may commit a little later.
    lease->second.deadline_ms = std::max(lease->second.deadline_ms, now_ms_ + config_.lease_ttl_ms);
    rearm_timeout(lease->second, lease->first.task, ref.ran_ms);
    propose(ref.partition, OpRenew{ref.id, ref.attempt, now_ms_ + config_.lease_ttl_ms});
    count("stolen_leases_renewed");
  }
  if (m.thief_address.empty() || hints.empty()) return;
  LeaderHints reply{config_.address, {}};
  for (auto& [p, hint] : hints) reply.partitions.push_back(std::move(hint));
  send(m.thief_address, std::move(reply));
}

void NodeState::on_peer(const StolenResult& m) {
  const TaskKey key{m.partition, m.id};
  Replica* r = led(m.partition);
  const TaskRecord* record = r == nullptr ? nullptr : r->table.find(m.id);
  if (r == nullptr) {
    // Not the leader: name the one this node knows, the runner asks there.
    count("results_for_other_leader");
    send(m.thief_address, LeaderHints{config_.address, {leader_hint(m.partition)}});
    return;
  }
  // A runner holds only attempts whose lease committed. A table that has not
  // applied this attempt (or this task) is behind: its leader was deposed
  // and does not know it yet, or has not applied its log. A "fenced" from it
  // would make the runner drop a result the current leader still awaits, so
  // it gives no verdict; the runner resends, and tries elsewhere.
  if (record == nullptr || latest_attempt(*record) < m.attempt) {
    count("results_not_judged");
    return;
  }
  if (is_current_lease(*record, m.attempt, m.thief_id)) {
    if (result_waits_.count(LeaseKey{key, m.attempt})) {
      // The ack follows the apply; meanwhile the runner hears this leader is here.
      send(m.thief_address, LeaderHints{config_.address, {leader_hint(m.partition)}});
      return;
    }
    if (!commit_outcome(m.partition, *record, m.attempt, m.ok, m.output)) {
      // Leadership is being handed over: no answer, the runner resends.
      count("results_deferred");
      return;
    }
    count("stolen_results_accepted");
    ResultWait& wait = result_waits_[LeaseKey{key, m.attempt}] = m;
    wait.output.clear();
    // The ack follows the apply; the runner hears at once that this leader is here.
    send(m.thief_address, LeaderHints{config_.address, {leader_hint(m.partition)}});
    return;
  }
  // A resend of a result already committed (its ack was lost), or a stale one.
  bool committed = result_committed(*record, m);
  if (!committed) count("stale_completions_rejected");
  send(m.thief_address, StolenResultAck{m.id, m.attempt, committed, m.partition});
}

void NodeState::enter_run(const TaskKey& key, Run run) {
  if (auto other = runs_.find(key); other != runs_.end() && other->second.attempt != run.attempt) {
    stop_fenced_run(other);
  }
  runs_[key] = std::move(run);
}

void NodeState::stop_fenced_run(std::map<TaskKey, Run>::iterator run) {
  out_.aborts.push_back({run->first.id, run->second.attempt, run->first.partition});
  runs_.erase(run);
  count("runs_fenced");
}

void NodeState::fence_if_ended(const AttemptRef& ref, const std::string& runner, const std::string& runner_address) {
  const Replica* r = replica(ref.partition);
  const TaskRecord* record = r == nullptr ? nullptr : r->table.find(ref.id);
  // A table that has not applied this attempt's lease is behind: no verdict.
  if (runner_address.empty() || record == nullptr || latest_attempt(*record) < ref.attempt) return;
  if (is_current_lease(*record, ref.attempt, runner)) return;
  // Attempt numbers are never reused: this attempt has ended. Its outcome
  // stands as the runner reported it only if the runner reported it.
  const AttemptInfo* a = find_attempt(*record, ref.attempt);
  bool reported = a != nullptr && a->runner == runner &&
                  (a->outcome == AttemptOutcome::kSucceeded || a->outcome == AttemptOutcome::kFailed);
  send(runner_address, StolenResultAck{ref.id, ref.attempt, reported, ref.partition});
}

void NodeState::acknowledge_results(const TaskKey& key, uint32_t attempt, const TaskRecord& record) {
  auto it = result_waits_.lower_bound(LeaseKey{key, 0});
  while (it != result_waits_.end() && it->first.task == key) {
    // A racing attempt's result still waits for its own op, unless this one
    // ended the task.
    if (it->first.attempt != attempt && is_current_lease(record, it->first.attempt)) {
      ++it;
      continue;
    }
    // The op applied may be another one ending the same attempt (a timeout):
    // then this result is fenced.
    const ResultWait& wait = it->second;
    send(wait.thief_address, StolenResultAck{key.id, wait.attempt, result_committed(record, wait), key.partition});
    it = result_waits_.erase(it);
  }
}

void NodeState::note_steal(const std::string& victim, const std::string& thief, size_t tasks) {
  steal_history_.note(now_ms_, victim, thief, tasks);
  event("steal", thief, std::to_string(tasks) + " tasks from " + victim);
}

}  // namespace mesh
