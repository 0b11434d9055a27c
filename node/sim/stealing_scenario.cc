#include "node/sim/stealing_scenario.h"

#include <algorithm>
#include <set>

#include "node/core/partitioning.h"
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

// Adds n stealing nodes, joins them through n0 and waits until they settle.
// Runners are crashed on purpose, often enough that a task may lose several
// in a row: no max_lost_attempts bound, or it would become a dead letter.
bool start_chaos_mesh(Simulator& sim, size_t n, uint64_t seed, SeedCounts& totals) {
  for (size_t i = 0; i < n; ++i) {
    NodeConfig config = stealing_config(i, true);
    config.max_lost_attempts = 0;
    sim.add_node(config);
  }
  totals["seeds_with_skewed_clocks"] += skew_clocks_on_odd_seeds(sim, seed);
  sim.join(0, {}, 0);
  for (size_t i = 1; i < n; ++i) sim.join(i, {Simulator::address_of("n0")}, i * 20);
  return sim.run_until([&] { return stealing_settled(sim); }, 30000, 50).has_value();
}

// One seeded chaos run: tasks submitted to nodes 0 and 1, random crashes and
// restarts of any node (thieves and victims), partitions, loss and
// duplication; then everything healed. Returns a failure text, or empty.
std::string stealing_chaos(uint64_t seed, SeedCounts& totals) {
  const size_t n = 4;
  Simulator sim(seed, NetworkFaults{1, 10, 0.02, 0.02});
  SimRandom chaos(derive_seed(seed, 99));
  if (!start_chaos_mesh(sim, n, seed, totals)) return "the mesh did not settle";
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
    if (r->state != TaskState::kCompleted) return "task " + id + " ended " + state_name(r->state) + ": " + r->error;
  }
  // Counters of the nodes' current lives: enough to show the paths ran.
  add_node_counters(sim, {"tasks_stolen", "stale_completions_rejected", "stolen_leases_expired"}, totals);
  return {};
}

// See run_stealing_failover_seed.
std::string stealing_failover(uint64_t seed, SeedCounts& totals) {
  const size_t n = 5;
  Simulator sim(seed, NetworkFaults{1, 10, 0, 0});
  SimRandom chaos(derive_seed(seed, 98));
  if (!start_chaos_mesh(sim, n, seed, totals)) return "the mesh did not settle";
  // No node may acknowledge a stolen result its own table has not applied.
  std::string early_ack;
  std::set<std::pair<std::string, uint32_t>> ran;      // (task id, attempt) some runner started
  std::set<std::pair<std::string, uint32_t>> stopped;  // ... and its runner stopped (its own timeout)
  sim.effects_hook = [&](size_t node, Effects& effects) {
    for (const auto& run : effects.runs) ran.emplace(run.id, run.attempt);
    for (const auto& abort : effects.aborts) stopped.emplace(abort.id, abort.attempt);
    for (const auto& out : effects.sends) {
      const auto* ack = std::get_if<StolenResultAck>(&out.message);
      if (ack == nullptr || !ack->accepted || !early_ack.empty()) continue;
      const TaskTable* table = sim.node(node).table(ack->partition);
      const TaskRecord* r = table == nullptr ? nullptr : table->find(ack->id);
      bool applied = r != nullptr && !r->attempts.empty() &&
                     std::any_of(r->attempts.begin(), r->attempts.end(), [&](const AttemptInfo& a) {
                       return a.attempt == ack->attempt && a.outcome != AttemptOutcome::kRunning;
                     });
      if (!applied) {
        early_ack = "n" + std::to_string(node) + " acknowledged the result of " + ack->id + " attempt " +
                    std::to_string(ack->attempt) + " before applying it";
      }
    }
  };
  std::string key = key_led_by(sim, 0, /*preferred=*/true);
  if (key.empty()) return "n0 leads no partition";
  uint32_t partition = partition_of(key, kStealingPartitions);
  // Tasks of one to three lease lengths: each outlives several leader changes.
  const uint64_t lease_ms = stealing_config(0, true).lease_ttl_ms;
  sim.schedule(0, sim.now(), in::Submit{1, keyed(sleep_tasks("f-", 40, lease_ms + seed % (2 * lease_ms)), key)});
  std::set<size_t> faulted;  // nodes crashed or cut off at some point: their runs may be lost
  uint64_t chaos_end = sim.now() + 10000;
  while (sim.now() < chaos_end) {
    sim.run_until(sim.now() + 600 + chaos.uniform(900));
    auto leader = leader_of(sim, partition);
    if (!leader) continue;
    faulted.insert(*leader);
    if (chaos.uniform(2) == 0) {
      sim.crash(*leader);
      sim.run_until(sim.now() + 300 + chaos.uniform(1500));
      sim.restart(*leader);
    } else {
      // Long enough for the others to elect a new leader: a leader cut off
      // for most of a lease without losing its leadership cannot tell its
      // thieves from runners that are gone, and may expire their leases.
      sim.partition({{*leader}});
      sim.run_until(sim.now() + 1500 + chaos.uniform(1500));
      sim.heal();
    }
    if (!early_ack.empty()) return early_ack;
  }
  std::set<std::string> ids = acknowledged(sim);
  if (ids.empty()) return "nothing was acknowledged";
  if (!sim.run_until([&] { return stealing_settled(sim) && all_terminal(sim, ids); }, sim.now() + 120000, 50)) {
    return "acknowledged tasks did not all finish";
  }
  sim.run_until(sim.now() + 2000);
  if (!early_ack.empty()) return early_ack;
  GuaranteeCheck check = check_task_guarantees(sim, ids);
  if (!check.failure.empty()) return check.failure;
  totals["replicas_compared"] += check.replicas_compared;
  for (const auto& id : ids) {
    const TaskRecord* r = leader_record(sim, id);
    if (r->state != TaskState::kCompleted) return "task " + id + " ended " + state_name(r->state) + ": " + r->error;
    for (const auto& a : r->attempts) {
      if (a.outcome != AttemptOutcome::kLost) continue;
      // A leader back from being cut off may still hold the runner for
      // dead; that is its membership's verdict, not a lease running out.
      if (a.error == "runner declared dead") {
        ++totals["attempts_released_runner_declared_dead"];
        continue;
      }
      bool runner_faulted = std::any_of(faulted.begin(), faulted.end(), [&](size_t i) {
        return sim.node(i).config().node_id == a.runner;
      });
      // A lease whose grant was lost with its lender never ran, and a run
      // its runner gave up on runs no more: expiring those is right.
      if (!ran.count({id, a.attempt}) || stopped.count({id, a.attempt})) {
        ++totals["attempts_lost_not_running"];
        continue;
      }
      if (!runner_faulted) {
        return "task " + id + " attempt " + std::to_string(a.attempt) + " was lost (" + a.error + ") on " + a.runner +
               ", which was never crashed nor cut off";
      }
      ++totals["attempts_lost_with_a_faulted_runner"];
    }
    totals["stolen_attempts"] += std::count_if(r->attempts.begin(), r->attempts.end(), [&](const AttemptInfo& a) {
      return a.runner != sim.node(0).config().node_id;
    });
  }
  totals["leader_changes"] += faulted.size();
  add_node_counters(sim, {"tasks_stolen", "stolen_leases_renewed", "leader_hints_redirected",
                          "lease_renewal_targets_changed", "stolen_results_committed"},
                    totals);
  return {};
}

}  // namespace

SeedRun run_stealing_failover_seed(uint64_t seed) {
  SeedRun run;
  run.failure = stealing_failover(seed, run.counts);
  return run;
}

SeedRun run_stealing_seed(uint64_t seed) {
  SeedRun run;
  run.failure = stealing_chaos(seed, run.counts);
  return run;
}

}  // namespace mesh
