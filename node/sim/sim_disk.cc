#include "node/sim/sim_disk.h"

#include <algorithm>

namespace mesh {

void SimDisk::persist(const Effects& effects) {
  for (const auto& w : effects.raft_writes) {
    RaftDisk& disk = groups_[w.group];
    const Ready& ready = w.ready;
    if (ready.snapshot) {
      disk.snapshot = *ready.snapshot;
      disk.entries.clear();
      disk.applied_index = ready.snapshot->meta.index;
    }
    if (ready.truncate_from) {
      std::erase_if(disk.entries, [&](const LogEntry& e) { return e.index >= *ready.truncate_from; });
    }
    for (const auto& entry : ready.entries) disk.entries.push_back(entry);
    if (ready.hard_state) disk.hard_state = *ready.hard_state;
  }
  for (const auto& c : effects.compactions) {
    RaftDisk& disk = groups_[c.group];
    std::erase_if(disk.entries, [&](const LogEntry& e) { return e.index <= c.snapshot.meta.index; });
    disk.snapshot = c.snapshot;
    disk.applied_index = c.snapshot.meta.index;
  }
}

}  // namespace mesh
