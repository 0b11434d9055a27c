// A seeded chaos scenario over the simulator: a mesh of `nodes` joins, then
// for `chaos_ms` the seed decides crashes, restarts, partitions and heals;
// then every fault is lifted and the mesh must converge to one view again.
// mesh_sim runs one seed; the tests run many. Same seed, same run.
#pragma once

#include <cstdint>
#include <string>

#include "node/sim/simulator.h"

namespace mesh {

struct ScenarioOptions {
  uint64_t seed = 1;
  size_t nodes = 10;
  NetworkFaults faults{1, 10, 0.02, 0.01};
  uint64_t chaos_ms = 60000;
  uint64_t fault_every_ms = 5000;   // mean interval between fault actions
  uint64_t settle_deadline_ms = 120000;
};

struct ScenarioReport {
  bool converged = false;
  uint64_t join_converged_ms = 0;   // after the last join
  uint64_t heal_converged_ms = 0;   // after the last fault was lifted
  uint64_t crashes = 0;
  uint64_t partitions = 0;
  uint64_t trace_hash = 0;
  SimStats stats;
  std::string failure;  // empty when converged
};

ScenarioReport run_membership_scenario(const ScenarioOptions& options);

// True when every running node sees exactly the running nodes as ALIVE.
bool membership_converged(const Simulator& sim);

// A node config for the simulator (fast gossip profile).
NodeConfig sim_node_config(size_t index);

}  // namespace mesh
