// TaskKey: how a node names one task in its own bookkeeping. A task id is
// unique only within its partition (the same id under another key is
// another task, in another partition's table), so every per-node map of
// tasks (ready queue, leases, runs, pending results, waits) is keyed by
// (partition, id).
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <string>

namespace mesh {

struct TaskKey {
  uint32_t partition = 0;
  std::string id;
  auto operator<=>(const TaskKey&) const = default;
  bool operator==(const TaskKey&) const = default;
};

struct TaskKeyHash {
  size_t operator()(const TaskKey& k) const {
    return std::hash<std::string>{}(k.id) * 31 + k.partition;
  }
};

// "id@partition", for log lines and failure messages.
inline std::string to_string(const TaskKey& k) { return k.id + "@" + std::to_string(k.partition); }

}  // namespace mesh
