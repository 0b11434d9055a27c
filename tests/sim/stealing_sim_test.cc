// Work stealing under the simulator: skewed load spreads to idle nodes
// within about one gossip period, stealing shortens the makespan, and with
// thief and victim crashes, partitions, loss and duplication no acknowledged
// task is lost and none commits two results.
#include <map>
#include <set>

#include "node/core/partitioning.h"
#include "node/sim/stealing_scenario.h"
#include "tests/sim/seed_plan.h"
#include "tests/sim/sim_harness.h"
#include "tools/testkit/record_check.h"

namespace mesh::test {
namespace {

struct SkewRun {
  bool stolen = false;  // some attempt ran off the leader; only then is first_steal_after_ms set
  uint64_t first_steal_after_ms = 0;
  uint64_t makespan_ms = 0;
  size_t run_elsewhere = 0;
  std::string by_runner;  // runner: attempts, last finished (ms after submit)
};

// `tasks` tasks of `task_ms` keyed to a partition n0 leads, on 4 nodes of 2
// slots; with `slow_factor`, n3 runs everything that many times as long.
SkewRun run_skew(bool steal, Placement placement = Placement::kKey, uint64_t slow_factor = 1, size_t tasks = 400,
                 uint64_t task_ms = 50) {
  const size_t n = 4;
  Simulator sim(/*seed=*/11, NetworkFaults{});
  for (size_t i = 0; i < n; ++i) sim.add_node(stealing_config(i, steal, placement));
  sim.slow_down(3, slow_factor);
  sim.join(0, {}, 0);
  for (size_t i = 1; i < n; ++i) sim.join(i, {Simulator::address_of("n0")}, i * 20);
  REQUIRE(sim.run_until([&] { return stealing_settled(sim); }, 60000, 50));
  uint64_t submitted_at = sim.now() + 1;
  std::string key = key_led_by(sim, 0, /*preferred=*/true);
  REQUIRE_MESSAGE(!key.empty(), "the node leads no partition");
  sim.schedule(0, submitted_at, in::Submit{1, keyed(sleep_tasks("skew-", tasks, task_ms), key)});
  std::set<std::string> ids;
  REQUIRE(sim.run_until([&] { ids = acknowledged(sim); return ids.size() == tasks; }, submitted_at + 1000, 1));
  SkewRun result;
  auto done = sim.run_until([&] { return all_terminal(sim, ids); }, submitted_at + 60000, 10);
  REQUIRE(done.has_value());
  result.makespan_ms = *done - submitted_at;
  uint64_t first_steal_ms = UINT64_MAX;
  std::map<std::string, std::pair<size_t, uint64_t>> runners;
  for (const auto& id : ids) {
    const TaskRecord& last = *leader_record(sim, id);
    auto& [count, finished] = runners[last.attempts.back().runner];
    ++count;
    finished = std::max(finished, last.finished_ms - submitted_at);
  }
  for (const auto& [runner, seen] : runners) {
    result.by_runner += runner + ": " + std::to_string(seen.first) + " until " + std::to_string(seen.second) + " ms; ";
  }
  for (const auto& id : ids) {
    const TaskRecord& r = *leader_record(sim, id);
    CHECK(r.state == TaskState::kCompleted);
    CHECK(check_record(r) == "");
    for (const auto& a : r.attempts) {
      if (a.runner != "n0") first_steal_ms = std::min(first_steal_ms, a.started_ms);
    }
    result.run_elsewhere += r.attempts.back().runner != "n0";
  }
  if (first_steal_ms != UINT64_MAX) result.first_steal_after_ms = first_steal_ms - submitted_at;
  result.stolen = first_steal_ms != UINT64_MAX;
  return result;
}

TEST_CASE("sim stealing: skewed load spreads within about one gossip period and shortens the makespan") {
  SkewRun with = run_skew(true);
  SkewRun without = run_skew(false);
  const double ideal_ms = 400.0 * 50 / (4 * 2);
  uint64_t probe_ms = MembershipConfig::local().probe_interval_ms;
  MESSAGE("400 x 50 ms on one of 4 nodes (2 slots each): first steal " << with.first_steal_after_ms
          << " ms after submit (gossip period " << probe_ms << " ms); makespan " << with.makespan_ms
          << " ms with stealing (efficiency " << ideal_ms / static_cast<double>(with.makespan_ms) << "), "
          << without.makespan_ms << " ms without (efficiency "
          << ideal_ms / static_cast<double>(without.makespan_ms) << "); " << with.run_elsewhere
          << " tasks ran on other nodes");
  REQUIRE(with.stolen);
  CHECK(with.first_steal_after_ms <= 2 * probe_ms + 100);
  CHECK(with.run_elsewhere > 100);
  CHECK(without.run_elsewhere == 0);
  CHECK(with.makespan_ms * 2 < without.makespan_ms);
}

TEST_CASE("sim placement: every policy but key spreads a skewed load without stealing, and loses nothing") {
  const double ideal_ms = 400.0 * 50 / (4 * 2);
  for (const std::string name : {"round_robin", "least_loaded", "weighted", "adaptive"}) {
    Placement placement = *parse_placement(name);
    CAPTURE(name);
    // run_skew checks that every task completed with a sound history.
    SkewRun run = run_skew(/*steal=*/false, placement);
    MESSAGE("placement " << name << ", stealing off: makespan " << run.makespan_ms << " ms (efficiency "
                         << ideal_ms / static_cast<double>(run.makespan_ms) << "), " << run.run_elsewhere
                         << " of 400 tasks first ran off the leader");
    CHECK(run.run_elsewhere > 150);
    CHECK(static_cast<double>(run.makespan_ms) < 2 * ideal_ms);
  }
}

TEST_CASE("sim placement: adaptive placement keeps a slow node's runs off the tail; round robin does not") {
  // n3 runs 5 times slower: the mesh's real capacity is 3 x 2 slots at 200 ms
  // plus 2 slots at 1000 ms. Every policy waits for room, so a slow node gets
  // fewer runs under any of them; what differs is whether its last runs, each
  // 5 times as long, set the makespan.
  const size_t tasks = 100;
  const uint64_t task_ms = 200;
  const double ideal_ms = tasks / (3 * 2 / 200.0 + 2 / 1000.0);
  SkewRun adaptive = run_skew(/*steal=*/false, Placement::kAdaptive, /*slow_factor=*/5, tasks, task_ms);
  SkewRun round_robin = run_skew(/*steal=*/false, Placement::kRoundRobin, /*slow_factor=*/5, tasks, task_ms);
  SkewRun evenly = run_skew(/*steal=*/false, Placement::kAdaptive, /*slow_factor=*/1, tasks, task_ms);
  // With stealing on, the slow node, idle, must not steal the tail either.
  SkewRun stealing = run_skew(/*steal=*/true, Placement::kAdaptive, /*slow_factor=*/5, tasks, task_ms);
  auto efficiency = [&](const SkewRun& r) { return ideal_ms / static_cast<double>(r.makespan_ms); };
  MESSAGE("100 x 200 ms, n3 5x slower, stealing off: ideal makespan " << ideal_ms << " ms; adaptive "
          << adaptive.makespan_ms << " ms (efficiency " << efficiency(adaptive) << "), round robin "
          << round_robin.makespan_ms << " ms (efficiency " << efficiency(round_robin) << "); runs adaptive "
          << adaptive.by_runner << "round robin " << round_robin.by_runner << "; adaptive with stealing "
          << stealing.makespan_ms << " ms (efficiency " << efficiency(stealing) << "): " << stealing.by_runner);
  CHECK(efficiency(adaptive) >= 0.9);
  CHECK(adaptive.makespan_ms < round_robin.makespan_ms);
  CHECK(efficiency(stealing) >= 0.9);
  // With every node equally fast, adaptive spreads like the others do.
  CHECK(evenly.run_elsewhere > 60);
  CHECK(static_cast<double>(evenly.makespan_ms) < 1.2 * (tasks * task_ms / (4 * 2)));
}

// Seeds as seed_plan.h describes: MESH_STEALING_SEED / MESH_STEALING_SEEDS.
TEST_CASE("sim stealing: thief and victim crashes lose nothing and commit nothing twice") {
  SeedPlan plan = seed_plan("stealing", "sim stealing: thief*", 1000, {1, 2, 3, 992563404}, /*in_mesh_sim=*/true);
  SeedCounts totals = run_seed_plan(plan, run_stealing_seed);
  MESSAGE(plan.seeds().size() << " stealing chaos seeds, nothing lost, nothing committed twice: "
                              << describe_counts(totals));
  CHECK(totals["replicas_compared"] > 0);
  if (plan.full_run()) {
    CHECK(totals["tasks_stolen"] > 0);
    CHECK(totals["stale_completions_rejected"] > 0);
    CHECK(totals["stolen_leases_expired"] > 0);
  }
}

// Seeds: MESH_STEALING_FAILOVER_SEED / MESH_STEALING_FAILOVER_SEEDS.
TEST_CASE("sim stealing failover: leases and results of stolen tasks follow the partition's leader") {
  SeedPlan plan = seed_plan("stealing_failover", "sim stealing failover*", 1000,
                            {1, 2, 3, 740420221, 77006436, 231974255, 233996260, 293718374, 353710370, 399812373,
                             524594648, 791756214, 823329427, 996651915, 861403860, 841396139, 814008934},
                            /*in_mesh_sim=*/true);
  SeedCounts totals = run_seed_plan(plan, run_stealing_failover_seed);
  MESSAGE(plan.seeds().size() << " stealing failover seeds, no live thief's lease expired, no result acknowledged "
                              << "before it was applied: " << describe_counts(totals));
  CHECK(totals["replicas_compared"] > 0);
  if (plan.full_run()) {
    CHECK(totals["leader_changes"] > 0);
    CHECK(totals["stolen_attempts"] > 0);
    CHECK(totals["stolen_leases_renewed"] > 0);
  }
}

}  // namespace
}  // namespace mesh::test
