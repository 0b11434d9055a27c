// NodeState's placement: which member first runs a task that became
// runnable on a partition this node leads (the rules are in node_state.h).
// A task placed on another member travels like a stolen one: a lease entry
// with that member as owner, then a grant it did not ask for.
#include <set>

#include "node/core/node_state.h"

namespace mesh {

std::optional<Placement> parse_placement(std::string_view name) {
  if (name == "key") return Placement::kKey;
  if (name == "round_robin") return Placement::kRoundRobin;
  if (name == "least_loaded") return Placement::kLeastLoaded;
  if (name == "weighted") return Placement::kWeighted;
  return std::nullopt;
}

std::map<std::string, NodeState::Room> NodeState::placement_room() const {
  std::map<std::string, Room> room;
  // Under key placement this node runs what it leads, and leases ahead of
  // its free slots; other policies compare free slots across members, so
  // they do not count leases ahead as room.
  size_t busy = runs_.size() + leasing_.size();
  size_t capacity = config_.slots + (config_.placement == Placement::kKey ? lease_ahead() : 0);
  room[config_.node_id] = Room{busy < capacity ? static_cast<uint32_t>(capacity - busy) : 0u, config_.slots,
                               config_.address};
  if (config_.placement == Placement::kKey) return room;
  // A member's gossiped free slots may predate what this node has placed
  // there: count this node's runs still out on it against them. (Runs that
  // were already counted in the digest are counted twice: placement errs on
  // the side of leaving room, and stealing takes up the slack.)
  std::map<std::string, uint32_t> out_on;
  for (const auto& [id, lease] : leases_) ++out_on[lease.owner];
  for (const auto& [id, grant] : grants_) out_on[grant.thief_id] += static_cast<uint32_t>(grant.waiting);
  for (const auto& m : membership_.members_where([](MemberState s, const LoadDigest& load) {
         return s == MemberState::kAlive && load.free_slots > 0;
       })) {
    if (m.id == config_.node_id) continue;
    uint32_t out = out_on[m.id];
    if (m.load.free_slots > out) room[m.id] = Room{m.load.free_slots - out, m.load.slots, m.address};
  }
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
    case Placement::kKey:
      break;
  }
  return {};
}

bool NodeState::place_remotely(const TaskKey& key, const std::string& runner, const Room& room,
                               std::map<std::string, uint64_t>& grant_of_runner) {
  const TaskRecord& r = *replicas_.at(key.partition).table.find(key.id);
  if (!propose(key.partition, OpLease{key.id, r.attempt + 1, runner, now_ms_, now_ms_ + config_.lease_ttl_ms,
                                      now_ms_ + r.spec.timeout_ms})) {
    return false;
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
    const TaskRecord& r = *table.find(next.id);
    std::string runner = choose_runner(room, r.spec.stealable);
    if (runner.empty()) break;  // nobody has room: it waits in place
    ready_.pop();
    bool placed = false;
    if (!refusing.count(next.partition)) {
      if (runner == config_.node_id) {
        placed = propose(next.partition, OpLease{next.id, r.attempt + 1, config_.node_id, now_ms_,
                                                 now_ms_ + config_.lease_ttl_ms, now_ms_ + r.spec.timeout_ms});
        if (placed) leasing_.insert(next);
      } else {
        placed = place_remotely(next, runner, room.at(runner), grant_of_runner);
      }
    }
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

}  // namespace mesh
