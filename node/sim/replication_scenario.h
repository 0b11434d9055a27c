// The replicated-partitions scenario: 5 nodes, R = 3, clients submitting
// batches while the seed crashes and restarts nodes (some with a wiped disk),
// cuts the network and drops, duplicates and reorders messages; then every
// fault is lifted and DESIGN §7 guarantees 1-4 are checked. The building
// blocks serve the hand-written replication scenarios too.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "node/sim/mesh_checks.h"
#include "node/sim/scenario.h"
#include "node/sim/sim_random.h"
#include "node/sim/simulator.h"

namespace mesh {

constexpr uint32_t kReplicatedPartitions = 8;

// A simulator node config with R = 3, short leases and frequent snapshots.
NodeConfig replicated_config(size_t index);

// n "sleep" tasks of run_ms each, ids prefix0..prefix<n-1>, with many attempts.
std::vector<TaskSpec> sleep_batch(const std::string& prefix, size_t n, uint64_t run_ms);

// One fault action of a seeded chaos loop, drawn from `chaos`: crash a live
// node (while fewer than two are down), restart a down one (`restart(node,
// down)` does it, deciding about its disk), cut one link, heal, or nothing.
void random_fault(Simulator& sim, SimRandom& chaos, SeedCounts& totals,
                  const std::function<void(size_t node, size_t down)>& restart);
// Every fault lifted: the network healed and lossless, every node up again.
void lift_faults(Simulator& sim);

// Node and Raft state of every unsettled partition, for failure messages.
std::string unsettled_partitions(const Simulator& sim);

struct ReplicatedMesh {
  explicit ReplicatedMesh(uint64_t seed, size_t n, NetworkFaults faults = {},
                          const std::function<NodeConfig(size_t)>& config = replicated_config)
      : sim(seed, faults) {
    for (size_t i = 0; i < n; ++i) sim.add_node(config(i));
    sim.join(0, {}, 0);
    for (size_t i = 1; i < n; ++i) sim.join(i, {Simulator::address_of("n0")}, i * 20);
  }
  // Settled, and every voter is the current replica id of its node: a lost
  // disk has been replaced everywhere. Only then may another disk be lost
  // without a group losing the majority of its disks (guarantee 1's premise).
  bool fully_replicated() const {
    if (!settled()) return false;
    std::set<std::string> current;
    for (size_t i = 0; i < sim.size(); ++i) {
      if (sim.alive(i)) current.insert(sim.node(i).replica_id());
    }
    for (uint32_t p = 0; p < kReplicatedPartitions; ++p) {
      for (const auto& v : sim.node(*leader_of(sim, p)).group(p)->voters()) {
        if (!current.count(v)) return false;
      }
    }
    return true;
  }
  // Every partition has a leader and the full replica set the ring asks for.
  bool settled() const {
    for (uint32_t p = 0; p < kReplicatedPartitions; ++p) {
      auto l = leader_of(sim, p);
      if (!l || sim.node(*l).group(p)->voters().size() != 3) return false;
    }
    return true;
  }
  Simulator sim;
};

}  // namespace mesh
