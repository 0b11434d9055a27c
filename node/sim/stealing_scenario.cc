#include "node/sim/stealing_scenario.h"

#include <algorithm>
#include <set>

#include "node/sim/mesh_checks.h"
#include "node/sim/scenario.h"

namespace mesh {

std::vector<TaskSpec> sleep_tasks(const std::string& prefix, size_t n, uint64_t ms) {
  std::vector<TaskSpec> tasks;
  for (size_t i = 0; i < n; ++i) {
    TaskSpec t;
    t.id = prefix + std::to_string(i);
    t.handler = "sleep";
    t.payload = std::to_string(ms);
    t.max_attempts = 10;
    t.timeout_ms = 5000;
    tasks.push_back(std::move(t));
  }
  return tasks;
}

NodeConfig stealing_config(size_t i, bool steal, Placement placement) {
  NodeConfig config = sim_node_config(i);
  config.placement = placement;
  config.handlers.insert("sleep");
  config.slots = 2;
  config.lease_ttl_ms = 1000;
  config.steal.enabled = steal;
  config.ring.partitions = kStealingPartitions;
  return config;
}

bool stealing_settled(const Simulator& sim) {
  if (!membership_converged(sim)) return false;
  for (uint32_t p = 0; p < kStealingPartitions; ++p) {
    auto l = leader_of(sim, p);
    if (!l) return false;
    const NodeState& leader = sim.node(*l);
    if (leader.group(p)->voters().size() != std::min<size_t>(3, sim.size()) ||
        leader.partition_table().replicas(p).front() != leader.config().node_id) {
      return false;
    }
  }
  return true;
}

std::vector<TaskSpec> keyed(std::vector<TaskSpec> tasks, const std::string& key) {
  for (auto& t : tasks) t.key = key;
  return tasks;
}

namespace {

// One seeded chaos run: tasks submitted to nodes 0 and 1, random crashes and
// restarts of any node (thieves and victims), partitions, loss and
// duplication; then everything healed. Returns a failure text, or empty.
std::string stealing_chaos(uint64_t seed, SeedCounts& totals) {
  const size_t n = 4;
  Simulator sim(seed, NetworkFaults{1, 10, 0.02, 0.02});
  SimRandom chaos(derive_seed(seed, 99));
  for (size_t i = 0; i < n; ++i) sim.add_node(stealing_config(i, true));
  sim.join(0, {}, 0);
  for (size_t i = 1; i < n; ++i) sim.join(i, {Simulator::address_of("n0")}, i * 20);
  if (!sim.run_until([&] { return stealing_settled(sim); }, 30000, 50)) return "the mesh did not settle";
  uint64_t start = sim.now();
  for (size_t owner : {0u, 1u}) {
    // All of an owner's tasks in one partition it leads: a skew for thieves to correct.
    std::string key = key_led_by(sim, owner, /*preferred=*/true);
    if (key.empty()) return "owner n" + std::to_string(owner) + " leads no partition";
    sim.schedule(owner, start, in::Submit{owner + 1, keyed(sleep_tasks("o" + std::to_string(owner) + "-", 60, 20 + seed % 80), key)});
  }
  uint64_t chaos_end = start + 8000;
  while (sim.now() < chaos_end) {
    sim.run_until(sim.now() + 100 + chaos.uniform(600));
    size_t victim = chaos.uniform(n);
    switch (chaos.uniform(5)) {
      case 0:
        if (sim.alive(victim) && victim != 0) sim.crash(victim);  // node 0 is everyone's seed
        break;
      case 1:
        if (!sim.alive(victim)) sim.restart(victim);
        break;
      case 2:
        sim.partition({{victim}});
        break;
      case 3:
        sim.heal();
        break;
      default:
        if (sim.alive(1) && chaos.uniform(4) == 0) sim.crash(1);  // an owner (victim) crash
    }
  }
  sim.heal();
  sim.set_faults(NetworkFaults{1, 10, 0, 0});
  for (size_t i = 0; i < n; ++i) {
    if (!sim.alive(i)) sim.restart(i);
  }
  std::set<std::string> ids = acknowledged(sim);
  if (ids.empty()) return "nothing was acknowledged";
  if (!sim.run_until([&] { return stealing_settled(sim) && all_terminal(sim, ids); }, sim.now() + 120000, 50)) {
    return "acknowledged tasks did not all finish";
  }
  sim.run_until(sim.now() + 2000);
  GuaranteeCheck check = check_task_guarantees(sim, ids);
  if (!check.failure.empty()) return check.failure;
  totals["replicas_compared"] += check.replicas_compared;
  for (const auto& id : ids) {
    const TaskRecord* r = leader_record(sim, id);
    if (r->state != TaskState::kCompleted) return "task " + id + " ended " + state_name(r->state);
  }
  // Counters of the nodes' current lives: enough to show the paths ran.
  add_node_counters(sim, {"tasks_stolen", "stale_completions_rejected", "stolen_leases_expired"}, totals);
  return {};
}

}  // namespace

SeedRun run_stealing_seed(uint64_t seed) {
  SeedRun run;
  run.failure = stealing_chaos(seed, run.counts);
  return run;
}

}  // namespace mesh
