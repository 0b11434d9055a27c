#include "node/core/ready_queue.h"

namespace mesh {

void ReadyQueue::push(const TaskKey& id, int32_t priority, uint64_t ready_at_ms, uint64_t now_ms) {
  remove(id);
  if (ready_at_ms <= now_ms) {
    insert_ready(id, priority, ready_at_ms);
    return;
  }
  DeferredKey key{ready_at_ms, seq_++, id, priority};
  deferred_.insert(key);
  where_[id] = Position{true, {}, key};
}

void ReadyQueue::insert_ready(const TaskKey& id, int32_t priority, uint64_t ready_since_ms) {
  // The ready instant must not overflow the rank: a task ready in the far
  // future was deferred, so ready_since_ms here is a real past instant.
  int64_t rank = static_cast<int64_t>(priority) * static_cast<int64_t>(aging_interval_ms_) -
                 static_cast<int64_t>(ready_since_ms);
  ReadyKey key{rank, seq_++, id};
  ready_.insert(key);
  where_[id] = Position{false, key, {}};
}

void ReadyQueue::remove(const TaskKey& id) {
  auto it = where_.find(id);
  if (it == where_.end()) return;
  if (it->second.deferred) {
    deferred_.erase(it->second.later);
  } else {
    ready_.erase(it->second.ready);
  }
  where_.erase(it);
}

void ReadyQueue::promote(uint64_t now_ms) {
  while (!deferred_.empty() && deferred_.begin()->ready_at_ms <= now_ms) {
    DeferredKey key = *deferred_.begin();
    deferred_.erase(deferred_.begin());
    insert_ready(key.id, key.priority, key.ready_at_ms);
  }
}

std::optional<TaskKey> ReadyQueue::pop() {
  if (ready_.empty()) return std::nullopt;
  TaskKey id = ready_.begin()->id;
  ready_.erase(ready_.begin());
  where_.erase(id);
  return id;
}

std::vector<TaskKey> ReadyQueue::take_last(size_t n, const std::function<bool(const TaskKey&)>& eligible) {
  std::vector<TaskKey> taken;
  for (auto it = ready_.rbegin(); it != ready_.rend() && taken.size() < n; ++it) {
    if (eligible(it->id)) taken.push_back(it->id);
  }
  for (const auto& id : taken) remove(id);
  return taken;
}

std::optional<uint64_t> ReadyQueue::next_ready_at() const {
  if (deferred_.empty()) return std::nullopt;
  return deferred_.begin()->ready_at_ms;
}

}  // namespace mesh
