// PartitionTable: which nodes hold each of the P partitions, computed from a
// membership view through the HashRing (DESIGN.md section 3).
//
// Partition p sits at XXH64("partition:<p>", seed 0). Its replica set is the
// first min(R, N) distinct nodes walking clockwise from there, and
// replicas[0] is the preferred leader. Adding a node therefore moves only
// partitions to the newcomer, and removing one moves only partitions it held.
//
// Bounded-load mode (consistent hashing with bounded loads, Mirrokni et al.)
// walks partitions in index order and passes over nodes that are full:
//   primary cap = ceil(c * P / N),  replica cap = ceil(c * P * min(R, N) / N)
// with c = max(load_factor, 1). The primary is the first node clockwise under
// both caps, else the first under the primary cap (one always exists since
// N * primary cap >= P); each further slot takes the next node clockwise under
// the replica cap, else the next node clockwise. So the primary cap always
// holds, the replica cap holds whenever the walk can meet it, and every set
// still has min(R, N) distinct nodes.
//
// Invariants: the table is a pure function of (config, node set): input order
// and duplicates do not matter, and equal views give equal digests on every
// node; each replica set has exactly replica_count() distinct nodes; an empty
// view gives a table whose partitions have no replicas.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mesh {

struct RingConfig {
  uint32_t vnodes_per_node = 64;
  uint32_t partitions = 128;  // fixed at cluster creation
  uint32_t replicas = 3;
  bool bounded_load = false;
  double load_factor = 1.25;  // bounded-load only; values below 1 count as 1
};

struct NodeSummary {
  uint32_t partitions_led = 0;
  uint32_t replicas_held = 0;  // including the partitions it leads
  uint32_t key_share_ppm = 0;  // of the hash ring, parts per million
  auto operator<=>(const NodeSummary&) const = default;
};

class PartitionTable {
 public:
  // Sorts and deduplicates node_ids first.
  static PartitionTable compute(const RingConfig& config, const std::vector<std::string>& node_ids);

  // Where partition p sits on the ring.
  static uint64_t partition_position(uint32_t partition);

  // REQUIRES: partition < partitions().
  const std::vector<std::string>& replicas(uint32_t partition) const;
  // The preferred leader, or nullptr when the partition has no replicas.
  const std::string* primary(uint32_t partition) const;

  uint32_t partitions() const { return static_cast<uint32_t>(replicas_.size()); }
  // Replicas every partition has: min(R, N).
  uint32_t replica_count() const { return replica_count_; }
  const std::vector<std::string>& nodes() const { return nodes_; }
  // XXH64 over the replica sets in partition order.
  uint64_t digest() const { return digest_; }
  // One entry per node, including nodes that hold nothing.
  const std::map<std::string, NodeSummary>& summary() const { return summary_; }

  // Partitions whose primary differs between the tables (a partition only one
  // table has counts when it has a primary there).
  static uint32_t moved_primaries(const PartitionTable& before, const PartitionTable& after);
  // Replica placements in `after` that `before` lacks: each is a copy of a
  // partition's data to a node that did not hold it.
  static uint32_t moved_replicas(const PartitionTable& before, const PartitionTable& after);

 private:
  PartitionTable() = default;

  std::vector<std::string> nodes_;
  std::vector<std::vector<std::string>> replicas_;  // by partition
  uint32_t replica_count_ = 0;
  uint64_t digest_ = 0;
  std::map<std::string, NodeSummary> summary_;
};

}  // namespace mesh
