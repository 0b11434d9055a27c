// ReadyQueue: the local scheduler's order over pending tasks.
//
// Priority with aging: a task's effective priority is
//   priority + (now - ready_since) / aging_interval_ms,
// so a task gains one priority level per aging interval it waits and low
// priorities never starve. Because every waiting task ages at the same rate,
// the order of two tasks does not depend on `now`: comparing
//   priority * aging_interval_ms - ready_since
// gives the same answer at any time. That static rank lets the queue be an
// ordered set with O(log n) push/pop instead of a rescan per dispatch.
//
// Tasks are named by TaskKey (partition, id): ids repeat across partitions.
//
// Tasks in backoff wait in a second set ordered by the instant they become
// ready; promote(now) moves the due ones over, ready since that instant.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "node/core/task_key.h"

namespace mesh {

class ReadyQueue {
 public:
  explicit ReadyQueue(uint64_t aging_interval_ms) : aging_interval_ms_(aging_interval_ms) {}

  // Adds or re-adds a task that becomes runnable at `ready_at_ms`.
  void push(const TaskKey& id, int32_t priority, uint64_t ready_at_ms, uint64_t now_ms);
  void remove(const TaskKey& id);
  // Moves tasks whose backoff has ended into the ready order.
  void promote(uint64_t now_ms);
  // The task to run next, if any is ready, left in place.
  const TaskKey* peek() const { return ready_.empty() ? nullptr : &ready_.begin()->id; }
  // Removes and returns the task to run next, if any is ready.
  std::optional<TaskKey> pop();
  // Removes and returns up to n ready tasks from the back of the order (the
  // ones this node would run last) for which `eligible` holds: what a victim
  // hands to a thief.
  std::vector<TaskKey> take_last(size_t n, const std::function<bool(const TaskKey&)>& eligible);

  size_t ready_size() const { return ready_.size(); }
  size_t deferred_size() const { return deferred_.size(); }
  // Earliest instant a deferred task becomes ready.
  std::optional<uint64_t> next_ready_at() const;

 private:
  struct ReadyKey {
    int64_t rank;  // larger runs first
    uint64_t seq;  // FIFO among equal ranks
    TaskKey id;
  };
  // Rank descending, then seq ascending. (A plain std::greater<> over the
  // whole key would also reverse seq, popping equal ranks newest first.)
  struct RunsFirst {
    bool operator()(const ReadyKey& a, const ReadyKey& b) const {
      if (a.rank != b.rank) return a.rank > b.rank;
      return a.seq < b.seq;
    }
  };
  struct DeferredKey {
    uint64_t ready_at_ms;
    uint64_t seq;
    TaskKey id;
    int32_t priority;
    auto operator<=>(const DeferredKey&) const = default;
  };
  struct Position {
    bool deferred;
    ReadyKey ready;
    DeferredKey later;
  };

  void insert_ready(const TaskKey& id, int32_t priority, uint64_t ready_since_ms);

  uint64_t aging_interval_ms_;
  uint64_t seq_ = 0;
  std::set<ReadyKey, RunsFirst> ready_;
  std::set<DeferredKey> deferred_;
  // Lookup only (never iterated), so hash order cannot leak into decisions.
  std::unordered_map<TaskKey, Position, TaskKeyHash> where_;
};

}  // namespace mesh
