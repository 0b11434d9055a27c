#include "node/sim/scenario.h"

#include <algorithm>

namespace mesh {

NodeConfig sim_node_config(size_t index) {
  NodeConfig config;
  config.node_id = "n" + std::to_string(index);
  config.slots = 2;
  config.handlers = {"noop"};
  config.membership = MembershipConfig::local();
  // Fewer partitions than a real mesh's 128: the Raft work of a simulated
  // mesh grows with P, and the membership scenarios do not need more.
  config.ring.partitions = 32;
  config.replication.election_timeout_ms = 500;
  config.replication.heartbeat_interval_ms = 50;
  return config;
}

bool membership_converged(const Simulator& sim) {
  std::vector<std::string> expected;
  for (size_t i = 0; i < sim.size(); ++i) {
    if (sim.alive(i)) expected.push_back(sim.node(i).config().node_id);
  }
  std::sort(expected.begin(), expected.end());
  for (size_t i = 0; i < sim.size(); ++i) {
    if (!sim.alive(i)) continue;
    std::vector<std::string> alive;
    for (const auto& m : sim.node(i).membership().members()) {
      if (m.state == MemberState::kAlive) alive.push_back(m.id);
    }
    if (alive != expected) return false;
  }
  return true;
}

ScenarioReport run_membership_scenario(const ScenarioOptions& o) {
  ScenarioReport report;
  Simulator sim(o.seed, o.faults);
  SimRandom chaos(derive_seed(o.seed, 7));
  const uint64_t stagger_ms = 20;
  for (size_t i = 0; i < o.nodes; ++i) {
    NodeConfig config = sim_node_config(i);
    // Membership is what this scenario is about: a few partition groups
    // keep the Raft traffic of the mesh from dominating its run time.
    config.ring.partitions = 8;
    sim.add_node(std::move(config));
  }
  report.skewed_clocks = skew_clocks_on_odd_seeds(sim, o.seed);
  sim.join(0, {}, 0);
  for (size_t i = 1; i < o.nodes; ++i) sim.join(i, {Simulator::address_of("n0")}, i * stagger_ms);
  uint64_t last_join = (o.nodes - 1) * stagger_ms;
  sim.run_until(last_join);
  auto joined = sim.run_until([&] { return membership_converged(sim); }, last_join + o.settle_deadline_ms, 100);
  if (!joined) {
    report.failure = "the mesh did not converge after joining";
    report.trace_hash = sim.trace_hash();
    return report;
  }
  report.join_converged_ms = *joined - last_join;

  // Chaos: at random instants crash a running node, restart a crashed one,
  // split the mesh in two, or heal. Node 0 stays up: it is every restart's seed.
  uint64_t chaos_end = sim.now() + o.chaos_ms;
  while (true) {
    uint64_t next = sim.now() + 1 + chaos.uniform(2 * o.fault_every_ms);
    if (next >= chaos_end) break;
    sim.run_until(next);
    size_t victim = 1 + chaos.uniform(o.nodes - 1);
    switch (chaos.uniform(4)) {
      case 0:
        if (sim.alive(victim)) {
          sim.crash(victim);
          ++report.crashes;
        }
        break;
      case 1:
        if (!sim.alive(victim)) sim.restart(victim);
        break;
      case 2: {
        std::vector<size_t> side;
        for (size_t i = 0; i < o.nodes; ++i) {
          if (chaos.uniform(2)) side.push_back(i);
        }
        sim.partition({side});
        ++report.partitions;
        break;
      }
      default:
        sim.heal();
    }
  }
  sim.run_until(chaos_end);
  sim.heal();
  sim.set_faults(NetworkFaults{o.faults.min_latency_ms, o.faults.max_latency_ms, 0, 0});
  for (size_t i = 0; i < o.nodes; ++i) {
    if (!sim.alive(i)) sim.restart(i);
  }
  uint64_t healed_at = sim.now();
  auto settled = sim.run_until([&] { return membership_converged(sim); }, healed_at + o.settle_deadline_ms, 100);
  report.trace_hash = sim.trace_hash();
  report.stats = sim.stats();
  if (!settled) {
    report.failure = "no single view " + std::to_string(o.settle_deadline_ms) + " ms after every fault was lifted";
    return report;
  }
  report.converged = true;
  report.heal_converged_ms = *settled - healed_at;
  report.failure = sim.wire_failure();
  return report;
}

SeedRun run_membership_seed(uint64_t seed) {
  ScenarioOptions options;
  options.seed = seed;
  ScenarioReport report = run_membership_scenario(options);
  SeedRun run;
  run.failure = report.failure;
  run.counts["crashes"] = report.crashes;
  run.counts["partitions"] = report.partitions;
  run.counts["converged"] = report.converged;
  run.counts["seeds_with_skewed_clocks"] = report.skewed_clocks;
  return run;
}

std::optional<SimFamily> parse_sim_family(std::string_view name) {
  for (SimFamily f : {SimFamily::kMembership, SimFamily::kReplication, SimFamily::kStealing, SimFamily::kStealingFailover,
                     SimFamily::kTransactions}) {
    if (name == sim_family_name(f)) return f;
  }
  return std::nullopt;
}

const char* sim_family_name(SimFamily family) {
  switch (family) {
    case SimFamily::kMembership:
      return "membership";
    case SimFamily::kReplication:
      return "replication";
    case SimFamily::kStealing:
      return "stealing";
    case SimFamily::kStealingFailover:
      return "stealing_failover";
    case SimFamily::kTransactions:
      return "transactions";
  }
  return "?";
}

SeedRun run_family_seed(SimFamily family, uint64_t seed) {
  switch (family) {
    case SimFamily::kMembership:
      return run_membership_seed(seed);
    case SimFamily::kReplication:
      return run_replication_seed(seed);
    case SimFamily::kStealing:
      return run_stealing_seed(seed);
    case SimFamily::kStealingFailover:
      return run_stealing_failover_seed(seed);
    case SimFamily::kTransactions:
      return run_transactions_seed(seed);
  }
  return {"unknown family", {}};
}

}  // namespace mesh
