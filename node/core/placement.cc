// NodeState's placement: which member first runs a task that became
// runnable on a partition this node leads (the rules are in node_state.h).
// A task placed on another member travels like a stolen one: a lease entry
// with that member as owner, then a grant it did not ask for.
#include <algorithm>
#include <set>

#include "node/core/assert.h"
#include "node/core/node_state.h"

namespace mesh {

std::optional<Placement> parse_placement(std::string_view name) {
  if (name == "key") return Placement::kKey;
  if (name == "round_robin") return Placement::kRoundRobin;
  if (name == "least_loaded") return Placement::kLeastLoaded;
  if (name == "weighted") return Placement::kWeighted;
  if (name == "adaptive") return Placement::kAdaptive;
  return std::nullopt;
}

namespace {

// Expected µs to a success on a member: its mean run time over its success
// rate (a failed attempt is retried), the rate floored at 5%; 0 unknown.
uint64_t expected_success_us(uint64_t run_us, uint32_t failure_permille) {
  if (run_us == 0) return 0;
  uint64_t success_permille = 1000 - std::min<uint32_t>(failure_permille, 950);
  return run_us * 1000 / success_permille;
}

// A member counts as faster than another only by a clear margin, so that
// noise in the run times never leaves a slot idle.
constexpr double kFasterMargin = 0.8;

}  // namespace

std::map<std::string, NodeState::Room> NodeState::placement_room(bool every_member) {
  std::map<std::string, Room> room;
  // Under key placement this node runs what it leads, and leases ahead of
  // its free slots; other policies compare free slots across members, so
  // they do not count leases ahead as room.
  size_t busy = runs_.size() + leasing_.size();
  size_t capacity = config_.slots + (config_.placement == Placement::kKey ? lease_ahead() : 0);
  room[config_.node_id] = Room{busy < capacity ? static_cast<uint32_t>(capacity - busy) : 0u, config_.slots,
                               config_.address, expected_success_us(average_slot_us_, failure_permille_)};
  if (config_.placement == Placement::kKey && !every_member) return room;
  // A member's gossiped free slots may predate what this node placed there
  // since, or what of it has finished: its slots busy with other work are
  // those its digest said were busy, less this node's runs out on it when
  // that digest arrived; this node's runs out on it now come on top. So a
  // slot this node's run frees is its again at once, not a gossip round
  // later. (A run placed after the digest was taken but before it arrived
  // counts once too few: the runner queues it, and stealing takes up the slack.)
  std::map<std::string, uint32_t> out_on;
  // A run whose outcome is being committed no longer holds its runner's slot.
  for (const auto& [id, lease] : leases_) out_on[lease.owner] += lease.ending ? 0 : 1;
  for (const auto& [id, grant] : grants_) out_on[grant.thief_id] += static_cast<uint32_t>(grant.waiting);
  // Adaptive placement also weighs the members busy with this node's runs:
  // they are capacity that frees up for its queue.
  std::map<std::string, DigestBaseline> baselines;  // the alive members'; the rest are forgotten
  const bool adaptive = config_.placement == Placement::kAdaptive;
  for (const auto& m : membership_.members_where([](MemberState s, const LoadDigest&) { return s == MemberState::kAlive; })) {
    if (m.id == config_.node_id) continue;
    uint32_t out = out_on[m.id];
    DigestBaseline& baseline = baselines[m.id];
    if (auto known = digest_baseline_.find(m.id); known != digest_baseline_.end()) baseline = known->second;
    if (baseline.version != m.load.version) baseline = {m.load.version, out};
    uint32_t free = 0;
    if (m.load.slots == 0) {  // an older peer tells no slots: its free ones, less ours since
      free = m.load.free_slots > out ? m.load.free_slots - out : 0;
    } else {
      uint32_t busy_there = m.load.slots - std::min(m.load.free_slots, m.load.slots);
      uint32_t busy_elsewhere = busy_there - std::min(busy_there, baseline.out);
      free = m.load.slots - std::min(m.load.slots, busy_elsewhere + out);
    }
    if (free > 0 || (adaptive && out > 0)) {
      room[m.id] = Room{free, m.load.slots, m.address, expected_success_us(m.load.run_us, m.load.failure_permille)};
    }
  }
  digest_baseline_ = std::move(baselines);
  return room;
}

std::string NodeState::choose_runner(const std::map<std::string, Room>& room, bool stealable) {
  const Room& own = room.at(config_.node_id);
  if (!stealable || config_.placement == Placement::kKey) return own.free > 0 ? config_.node_id : std::string();
  std::vector<const std::pair<const std::string, Room>*> open;  // by id
  for (const auto& entry : room) {
    if (entry.second.free > 0) open.push_back(&entry);
  }
  if (open.empty()) return {};
  switch (config_.placement) {
    case Placement::kRoundRobin: {
      const std::string* next = &open.front()->first;
      for (const auto* entry : open) {
        if (entry->first > last_round_robin_) {
          next = &entry->first;
          break;
        }
      }
      last_round_robin_ = *next;
      return *next;
    }
    case Placement::kLeastLoaded: {
      // The most free slots; a tie stays home (no network hop).
      const std::string* best = &config_.node_id;
      uint32_t most = own.free;
      for (const auto* entry : open) {
        if (entry->second.free > most) {
          most = entry->second.free;
          best = &entry->first;
        }
      }
      return *best;
    }
    case Placement::kWeighted: {
      uint64_t total = 0;
      for (const auto* entry : open) total += std::max<uint32_t>(entry->second.slots, 1);
      uint64_t pick = random_.uniform(total);
      for (const auto* entry : open) {
        uint64_t weight = std::max<uint32_t>(entry->second.slots, 1);
        if (pick < weight) return entry->first;
        pick -= weight;
      }
      return open.back()->first;
    }
    case Placement::kAdaptive:
      return choose_adaptive(room);
    case Placement::kKey:
      break;
  }
  return {};
}

// The open member with the least expected time to a success (most free
// slots, then this node, on a tie). A slower one is used only while the
// clearly faster members, at their speed and slots, could not clear this
// node's ready queue before it would finish: otherwise the task waits for
// them, since a slow member's last runs would set the makespan.
std::string NodeState::choose_adaptive(const std::map<std::string, Room>& room) const {
  // A member that has not run anything yet counts as the fastest known, so
  // it gets tried; if none has, all count as equal.
  uint64_t fastest = UINT64_MAX;
  for (const auto& [id, r] : room) {
    if (r.success_us > 0) fastest = std::min(fastest, r.success_us);
  }
  if (fastest == UINT64_MAX) fastest = 1;
  auto cost = [&](const Room& r) { return static_cast<double>(r.success_us > 0 ? r.success_us : fastest); };
  const std::pair<const std::string, Room>* best = nullptr;
  for (const auto& entry : room) {
    if (entry.second.free == 0) continue;
    if (best == nullptr || cost(entry.second) < cost(best->second) ||
        (cost(entry.second) == cost(best->second) &&
         (entry.second.free > best->second.free ||
          (entry.second.free == best->second.free && entry.first == config_.node_id)))) {
      best = &entry;
    }
  }
  if (best == nullptr) return {};
  double faster_per_us = 0;  // tasks per µs the clearly faster members finish
  for (const auto& [id, r] : room) {
    if (cost(r) < kFasterMargin * cost(best->second)) faster_per_us += std::max<uint32_t>(r.slots, 1) / cost(r);
  }
  if (faster_per_us == 0) return best->first;
  MESH_ASSERT(ready_.ready_size() > 0, "adaptive placement chooses for a queued task");
  double faster_clear_us = static_cast<double>(ready_.ready_size()) / faster_per_us + static_cast<double>(fastest);
  return faster_clear_us >= cost(best->second) ? best->first : std::string();
}

bool NodeState::lease_to(const TaskKey& key, const std::string& runner, const Room& room,
                         std::map<std::string, uint64_t>& grant_of_runner, bool backup) {
  const TaskRecord& r = *replicas_.at(key.partition).table.find(key.id);
  if (!propose(key.partition, OpLease{key.id, next_attempt(r), runner, now_ms_, now_ms_ + config_.lease_ttl_ms,
                                      now_ms_ + r.spec.timeout_ms, backup})) {
    return false;
  }
  if (runner == config_.node_id) {  // it runs once the lease applies here
    leasing_.insert(key);
    return true;
  }
  auto [it, created] = grant_of_runner.emplace(runner, 0);
  if (created) {
    it->second = next_handle_++;
    PendingGrant& grant = grants_[it->second];
    grant.placement = true;
    grant.thief_id = runner;
    grant.thief_address = room.address;
  }
  grant_of_task_[key] = it->second;
  ++grants_[it->second].waiting;
  return true;
}

void NodeState::dispatch() {
  ready_.promote(now_ms_);
  if (draining_) return;
  std::map<std::string, Room> room = placement_room();
  std::map<std::string, uint64_t> grant_of_runner;  // placement grants of this call, by runner
  // Tasks of partitions whose group refuses proposals (a leadership
  // hand-over) wait aside, and go back once this call is done: one such
  // partition must not stop dispatch in the others.
  std::vector<TaskKey> refused;
  std::set<uint32_t> refusing;
  while (const TaskKey* peeked = ready_.peek()) {
    TaskKey next = *peeked;
    const TaskTable& table = replicas_.at(next.partition).table;
    if (table.locked_by(next.id) != nullptr) {
      // Held by a job cancel: it starts no attempt. The resolve hands it
      // back (reindex) if the cancel aborts.
      ready_.pop();
      continue;
    }
    if (lease_in_flight(next)) {
      // A backup lease proposed before the attempt it would race ended:
      // once that applies (refused), the task is leased anew.
      ready_.pop();
      refused.push_back(std::move(next));
      continue;
    }
    const TaskRecord& r = *table.find(next.id);
    std::string runner = choose_runner(room, r.spec.stealable);
    if (runner.empty()) break;  // nobody has room: it waits in place
    ready_.pop();
    bool placed = false;
    if (!refusing.count(next.partition)) placed = lease_to(next, runner, room.at(runner), grant_of_runner);
    if (!placed) {
      refusing.insert(next.partition);
      refused.push_back(std::move(next));
      continue;
    }
    --room.at(runner).free;
  }
  for (const auto& key : refused) {
    const TaskRecord& r = *replicas_.at(key.partition).table.find(key.id);
    ready_.push(key, r.spec.priority, not_before_on_this_clock(r), now_ms_);
  }
}

// --- backup attempts (node/core/backup_attempts.h) -------------------------------------

std::string NodeState::choose_backup_runner(const std::map<std::string, Room>& room, const std::string& owner) const {
  const std::pair<const std::string, Room>* best = nullptr;
  for (const auto& entry : room) {
    if (entry.first == owner || entry.second.free == 0) continue;
    if (best == nullptr || entry.second.free > best->second.free) best = &entry;
  }
  return best == nullptr ? std::string() : best->first;
}

void NodeState::start_backup_attempts() {
  if (!config_.backups.enabled || draining_ || now_ms_ < next_backup_check_ms_) return;
  next_backup_check_ms_ = now_ms_ + config_.backups.check_interval_ms;
  watching_for_stragglers_ = false;
  std::map<std::string, JobProgress> progress;  // by job: read once per check
  std::optional<std::map<std::string, Room>> room;
  std::map<std::string, uint64_t> grant_of_runner;
  for (const auto& [lease_key, lease] : leases_) {
    const TaskKey& key = lease_key.task;
    const TaskTable& table = replicas_.at(key.partition).table;
    const TaskRecord* r = table.find(key.id);
    MESH_ASSERT(r != nullptr && is_current_lease(*r, lease_key.attempt), "a lease names a running attempt");
    // One backup per task, of a job's task that may run elsewhere; a held
    // task (a job cancel) starts no attempt.
    if (lease.ending || r->txn.empty() || r->spec.no_backup || !r->spec.stealable || r->backup.attempt != 0 ||
        lease_in_flight(key) || table.locked_by(key.id) != nullptr) {
      continue;
    }
    watching_for_stragglers_ = true;
    uint64_t ran_ms = now_ms_ - std::min(now_ms_, lease.run_started_ms);
    if (ran_ms < config_.backups.min_gain_ms) continue;
    auto job = progress.find(r->txn);
    if (job == progress.end()) {
      const JobIndex::Job* indexed = jobs_.find(r->txn);
      MESH_ASSERT(indexed != nullptr && indexed->tasks.count(key), "a hosted job's task is indexed");
      job = progress.emplace(r->txn, job_progress(*indexed, [&](const TaskKey& k) {
                                        return replicas_.at(k.partition).table.find(k.id);
                                      })).first;
    }
    if (!straggles(job->second, ran_ms, config_.backups)) continue;
    if (!room) {
      room = placement_room(/*every_member=*/true);
      // A backup here must find a free slot, not queue behind leases ahead.
      size_t busy = runs_.size() + leasing_.size();
      room->at(config_.node_id).free = busy < config_.slots ? static_cast<uint32_t>(config_.slots - busy) : 0u;
    }
    std::string runner = choose_backup_runner(*room, lease.owner);
    if (runner.empty()) continue;  // no room anywhere: checked again later
    if (!lease_to(key, runner, room->at(runner), grant_of_runner, /*backup=*/true)) continue;
    --room->at(runner).free;
    count("backup_attempts_proposed");
    event("backup_attempt", to_string(key),
          "ran " + std::to_string(ran_ms) + " ms on " + lease.owner + ", job median " +
              std::to_string(*job->second.median_run_ms) + " ms: a backup on " + runner);
  }
}

}  // namespace mesh
