// Seeded chaos scenarios over the simulator, one per family: membership
// (below), replication (replication_scenario.h) and stealing
// (stealing_scenario.h). mesh_sim runs one seed; the tests run many, through
// the same runners. Same seed, same run.
//
// Membership: a mesh of `nodes` joins, then for `chaos_ms` the seed decides
// crashes, restarts, partitions and heals; then every fault is lifted and the
// mesh must converge to one view again.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "node/sim/simulator.h"

namespace mesh {

struct ScenarioOptions {
  uint64_t seed = 1;
  // The defaults are the membership family's seeded runs.
  size_t nodes = 8;
  NetworkFaults faults{1, 10, 0.02, 0.01};
  uint64_t chaos_ms = 30000;
  uint64_t fault_every_ms = 3000;   // mean interval between fault actions
  uint64_t settle_deadline_ms = 120000;
};

struct ScenarioReport {
  bool skewed_clocks = false;  // skew_clocks_on_odd_seeds
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

enum class SimFamily { kMembership, kReplication, kStealing, kStealingFailover, kTransactions };

// "membership", "replication", "stealing"; nullopt for any other name.
std::optional<SimFamily> parse_sim_family(std::string_view name);
const char* sim_family_name(SimFamily family);

// What one seed's run exercised (crashes, steals, replicas compared...), by
// name; the tests sum them over a run's seeds.
using SeedCounts = std::map<std::string, uint64_t>;

struct SeedRun {
  std::string failure;  // empty when every check held
  SeedCounts counts;
};

SeedRun run_membership_seed(uint64_t seed);   // run_membership_scenario with the default options
SeedRun run_replication_seed(uint64_t seed);  // replication_scenario.cc
SeedRun run_stealing_seed(uint64_t seed);     // stealing_scenario.cc
SeedRun run_stealing_failover_seed(uint64_t seed);  // stealing_scenario.cc
SeedRun run_transactions_seed(uint64_t seed);       // transaction_scenario.cc
SeedRun run_family_seed(SimFamily family, uint64_t seed);

}  // namespace mesh
