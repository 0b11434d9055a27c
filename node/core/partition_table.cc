#include "node/core/partition_table.h"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "node/core/assert.h"
#include "node/core/hash_ring.h"

namespace mesh {
namespace {

using Walk = std::vector<uint32_t>;  // node indices in clockwise order

// ceil(c * units / N), no more than `ceiling`, with c = max(load_factor, 1).
// (std::max puts a NaN load factor at 1 too.)
uint32_t load_cap(double load_factor, uint64_t units, size_t nodes, uint32_t ceiling) {
  const double c = std::max(1.0, load_factor);
  return static_cast<uint32_t>(
      std::min<double>(ceiling, std::ceil(c * static_cast<double>(units) / static_cast<double>(nodes))));
}

// Unbounded consistent hashing: the first `count` distinct nodes clockwise.
std::vector<Walk> place_plain(const HashRing& ring, uint32_t partitions, size_t count) {
  std::vector<Walk> placed(partitions);
  for (uint32_t p = 0; p < partitions; ++p) placed[p] = ring.walk(PartitionTable::partition_position(p), count);
  return placed;
}

// Bounded loads; the rules are in the header.
std::vector<Walk> place_bounded(const HashRing& ring, uint32_t partitions, size_t count, double load_factor) {
  const size_t n = ring.nodes().size();
  const uint32_t primary_cap = load_cap(load_factor, partitions, n, partitions);
  const uint32_t replica_cap = load_cap(load_factor, uint64_t{partitions} * count, n, partitions);
  std::vector<uint32_t> led(n, 0);
  std::vector<uint32_t> held(n, 0);
  std::vector<Walk> placed(partitions);
  for (uint32_t p = 0; p < partitions; ++p) {
    const Walk preference = ring.walk(PartitionTable::partition_position(p), n);
    Walk& chosen = placed[p];
    std::vector<bool> taken(n, false);
    // The first untaken node clockwise that passes `fits`, if any.
    auto first_fitting = [&](auto fits) -> const uint32_t* {
      auto it =
          std::find_if(preference.begin(), preference.end(), [&](uint32_t node) { return !taken[node] && fits(node); });
      return it == preference.end() ? nullptr : &*it;
    };
    auto take = [&](uint32_t node) {
      taken[node] = true;
      ++held[node];
      chosen.push_back(node);
    };

    const uint32_t* primary =
        first_fitting([&](uint32_t node) { return led[node] < primary_cap && held[node] < replica_cap; });
    if (!primary) primary = first_fitting([&](uint32_t node) { return led[node] < primary_cap; });
    MESH_ASSERT(primary, "N * primary cap >= P leaves a node under the primary cap");
    ++led[*primary];
    take(*primary);
    while (chosen.size() < count) {
      const uint32_t* next = first_fitting([&](uint32_t node) { return held[node] < replica_cap; });
      if (!next) next = first_fitting([](uint32_t) { return true; });  // count <= N: one is left
      take(*next);
    }
  }
  return placed;
}

void put_u32(std::string& out, uint32_t v) {
  for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

// Length-prefixed, little-endian: two different tables never encode alike.
uint64_t digest_of(const std::vector<std::vector<std::string>>& replicas) {
  std::string bytes;
  put_u32(bytes, static_cast<uint32_t>(replicas.size()));
  for (const auto& set : replicas) {
    put_u32(bytes, static_cast<uint32_t>(set.size()));
    for (const auto& node : set) {
      put_u32(bytes, static_cast<uint32_t>(node.size()));
      bytes += node;
    }
  }
  return XXH64(bytes.data(), bytes.size(), /*seed=*/0);
}

const std::vector<std::string>& replicas_or_none(const PartitionTable& table, uint32_t partition) {
  static const std::vector<std::string> kNone;
  return partition < table.partitions() ? table.replicas(partition) : kNone;
}

}  // namespace

PartitionTable PartitionTable::compute(const RingConfig& config, const std::vector<std::string>& node_ids) {
  const HashRing ring(node_ids, config.vnodes_per_node);
  PartitionTable table;
  table.nodes_ = ring.nodes();
  const size_t count = std::min<size_t>(config.replicas, table.nodes_.size());
  table.replica_count_ = static_cast<uint32_t>(count);

  std::vector<Walk> placed = config.bounded_load && count > 0
                                 ? place_bounded(ring, config.partitions, count, config.load_factor)
                                 : place_plain(ring, config.partitions, count);

  for (const auto& id : table.nodes_) table.summary_[id].key_share_ppm = ring.key_share_ppm(id);
  table.replicas_.resize(config.partitions);
  for (uint32_t p = 0; p < config.partitions; ++p) {
    for (uint32_t node : placed[p]) {
      const std::string& id = table.nodes_[node];
      table.replicas_[p].push_back(id);
      ++table.summary_[id].replicas_held;
    }
    if (!placed[p].empty()) ++table.summary_[table.nodes_[placed[p].front()]].partitions_led;
  }
  table.digest_ = digest_of(table.replicas_);
  return table;
}

uint64_t PartitionTable::partition_position(uint32_t partition) {
  const std::string name = "partition:" + std::to_string(partition);
  return XXH64(name.data(), name.size(), /*seed=*/0);
}

const std::vector<std::string>& PartitionTable::replicas(uint32_t partition) const {
  MESH_ASSERT(partition < replicas_.size(), "partition out of range");
  return replicas_[partition];
}

const std::string* PartitionTable::primary(uint32_t partition) const {
  const auto& set = replicas(partition);
  return set.empty() ? nullptr : &set.front();
}

uint32_t PartitionTable::moved_primaries(const PartitionTable& before, const PartitionTable& after) {
  uint32_t moved = 0;
  for (uint32_t p = 0; p < std::max(before.partitions(), after.partitions()); ++p) {
    const auto& was = replicas_or_none(before, p);
    const auto& now = replicas_or_none(after, p);
    if (was.empty() != now.empty() || (!was.empty() && was.front() != now.front())) ++moved;
  }
  return moved;
}

uint32_t PartitionTable::moved_replicas(const PartitionTable& before, const PartitionTable& after) {
  uint32_t moved = 0;
  for (uint32_t p = 0; p < after.partitions(); ++p) {
    const auto& was = replicas_or_none(before, p);
    for (const auto& node : after.replicas(p)) {
      if (std::find(was.begin(), was.end(), node) == was.end()) ++moved;
    }
  }
  return moved;
}

}  // namespace mesh
