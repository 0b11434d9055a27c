// A Raft replica's persistent state in a Storage, one key range per group
// (partition):
//   raft/<gggg>/hard          hard state (term, vote, commit)
//   raft/<gggg>/snap/meta     snapshot point (index, term, voters)
//   raft/<gggg>/snap/data     snapshot bytes, stored raw (no size limit of a frame)
//   raft/<gggg>/log/<index>   one log entry per key, index as 16 hex digits
// The writes of a Ready go into the caller's WriteBatch, so they join the
// driver's one synced group commit before the Ready's messages are sent.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "node/core/raft.h"
#include "node/env/storage.h"

namespace mesh {

// Adds what `ready` asks to persist: an installed snapshot (which replaces
// the whole log), a truncation, new entries, the hard state.
void add_raft_ready(uint32_t group, const Ready& ready, WriteBatch& batch);
// After RaftGroup::compact: the snapshot replaces the entries it covers.
void add_raft_compaction(uint32_t group, const Snapshot& snapshot, WriteBatch& batch);
// Every group of partitions [0, partitions) this disk holds anything of.
Result<std::map<uint32_t, RaftDisk>> load_raft_disks(Storage& storage, uint32_t partitions);
// The id of this disk, made up once when the store is new and kept under
// "meta/disk_id": a node's replica id is "<node id>#<disk id>", so a wiped
// disk takes part in partition groups as a new replica.
Result<std::string> load_or_create_disk_id(Storage& storage, uint64_t fresh);
// The node id this disk belongs to, kept under "meta/node_id": the stored
// one when `wanted` is empty or equal to it, else kInvalidArgument; a new
// disk takes `wanted`, or `fallback` when none is wanted.
Result<std::string> bind_node_id(Storage& storage, const std::string& wanted, const std::string& fallback);
// The id of the mesh this disk belongs to, kept under "meta/mesh_id":
// empty until the node founds a mesh or first hears from one.
Result<std::string> load_mesh_id(Storage& storage);
// Records the mesh id, synced: from then on the node talks to that mesh only.
Status store_mesh_id(Storage& storage, const std::string& mesh_id);
// The addresses of the other live members, kept under "meta/peers" (one per
// line) so that a node restarted without seeds can find its mesh again.
// A hint: written with the turn's batch, never synced on its own.
void add_known_peers(const std::vector<std::string>& addresses, WriteBatch& batch);
// The addresses add_known_peers kept; empty on a new disk.
Result<std::vector<std::string>> load_known_peers(Storage& storage);
// Reads a group's disk back; a group never written reads as an empty disk.
// Sets applied_index to the snapshot index: the host re-applies the rest.
Result<RaftDisk> load_raft_disk(Storage& storage, uint32_t group);

}  // namespace mesh
