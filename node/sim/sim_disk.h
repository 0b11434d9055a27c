// The simulator's disk of one node: the real Raft store code
// (node/io/raft_store.h) over storage in memory. The real driver syncs a
// step's writes before anything of the step leaves the node, and so does
// this disk: a simulated crash loses nothing written here, and a restart
// reads every group back through the same decoding as a real start.
#pragma once

#include <cstdint>
#include <map>

#include "node/core/effects.h"
#include "node/core/raft.h"
#include "node/sim/memory_storage.h"

namespace mesh {

class SimDisk {
 public:
  // Persists what a step asked for, as the driver does (TurnOutput): each
  // group's Ready, then compactions (which may cover entries the same step
  // appended), in one synced write.
  void persist(const Effects& effects);
  // What a restarted node recovers from: every group of partitions
  // [0, partitions) read back from storage. Aborts if the store does not
  // read back: the core wrote something its own store cannot decode.
  std::map<uint32_t, RaftDisk> groups(uint32_t partitions);
  // The peers' addresses the node last kept (Effects::known_peers).
  std::vector<std::string> known_peers();
  // The process dies; unsynced writes (commit indexes, compactions) are lost.
  void crash() { storage_.crash(); }
  void wipe() { storage_ = MemoryStorage{}; }

 private:
  MemoryStorage storage_;
};

}  // namespace mesh
