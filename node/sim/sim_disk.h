// The simulator's disk of one node: every partition group's persistent Raft
// state, kept the way node/io/raft_store.h keeps it in RocksDB. The real
// driver syncs a step's writes before anything of the step leaves the node,
// so a simulated crash loses nothing written here and nothing else.
#pragma once

#include <cstdint>
#include <map>

#include "node/core/effects.h"
#include "node/core/raft.h"

namespace mesh {

class SimDisk {
 public:
  // Persists what a step asked for: each group's Ready, then compactions
  // (which may cover entries the same step appended).
  void persist(const Effects& effects);
  // What a restarted node recovers from.
  const std::map<uint32_t, RaftDisk>& groups() const { return groups_; }
  void wipe() { groups_.clear(); }

 private:
  std::map<uint32_t, RaftDisk> groups_;
};

}  // namespace mesh
