#include "node/sim/sim_disk.h"

#include "node/core/assert.h"
#include "node/io/raft_store.h"

namespace mesh {

void SimDisk::persist(const Effects& effects) {
  WriteBatch batch;
  bool sync = false;
  for (const auto& w : effects.raft_writes) {
    add_raft_ready(w.group, w.ready, batch);
    sync = sync || w.ready.must_sync;
  }
  // A compaction alone need not be synced: a crash that loses it keeps the entries.
  for (const auto& c : effects.compactions) add_raft_compaction(c.group, c.snapshot, batch);
  if (effects.known_peers) add_known_peers(*effects.known_peers, batch);
  if (batch.empty()) return;
  Status written = storage_.write(batch, sync);
  MESH_ASSERT(written.ok(), written.message().c_str());
}

std::map<uint32_t, RaftDisk> SimDisk::groups(uint32_t partitions) {
  auto loaded = load_raft_disks(storage_, partitions);
  MESH_ASSERT(loaded.ok(), loaded.status().message().c_str());
  return std::move(loaded).value();
}

std::vector<std::string> SimDisk::known_peers() {
  auto loaded = load_known_peers(storage_);
  MESH_ASSERT(loaded.ok(), loaded.status().message().c_str());
  return std::move(loaded).value();
}

}  // namespace mesh
