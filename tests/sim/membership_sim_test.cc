// Membership under the deterministic simulator: convergence at 10, 100 and
// 1,000 nodes, crash detection within the suspicion bound, no false deaths
// under 5% loss, healing after a partition, and exact replay from a seed.
// Each test prints its figures; assertions are about behaviour.
#include <cmath>
#include <set>

#include "tests/sim/seed_plan.h"
#include "tests/sim/sim_harness.h"

namespace mesh::test {
namespace {

// Worst case from crash to DEAD everywhere, in probe periods: the crashed
// node may be probed last in a round (N periods), then the longest suspicion
// timeout, then dissemination of DEAD (a few log N rounds) — plus slack.
uint64_t detection_bound_ms(const MembershipConfig& c, size_t n) {
  double min_periods = c.suspicion_mult * std::log10(static_cast<double>(n) + 1);
  double suspicion_periods = c.suspicion_max_mult * std::max(1.0, min_periods);
  double periods = static_cast<double>(n) + suspicion_periods + 4 * std::ceil(std::log2(static_cast<double>(n) + 1)) + 5;
  return static_cast<uint64_t>(periods * static_cast<double>(c.probe_interval_ms));
}

void check_convergence(size_t n, uint64_t stagger_ms, uint64_t deadline_ms) {
  Simulator sim(/*seed=*/n, NetworkFaults{});
  start_mesh(sim, n, stagger_ms);
  uint64_t last_join = (n - 1) * stagger_ms;
  sim.run_until(last_join);
  auto at = sim.run_until([&] { return membership_converged(sim); }, last_join + deadline_ms, 100);
  REQUIRE_MESSAGE(at.has_value(), n << " nodes did not converge within " << deadline_ms << " ms");
  uint64_t took = *at - last_join;
  uint64_t probe = MembershipConfig::local().probe_interval_ms;
  double per_node_per_s = static_cast<double>(sim.stats().messages_sent) / static_cast<double>(n) /
                          (static_cast<double>(*at) / 1000.0);
  MESSAGE(n << " nodes converged " << took << " ms after the last join (" << took / probe
            << " probe rounds), " << per_node_per_s << " messages per node per second");
}

TEST_CASE("sim: 10 nodes converge to one view") { check_convergence(10, 50, 60000); }
TEST_CASE("sim: 100 nodes converge to one view") { check_convergence(100, 20, 120000); }
TEST_CASE("sim: 1,000 nodes converge to one view") { check_convergence(1000, 5, 300000); }

TEST_CASE("sim: a crashed node is declared dead by every live node within the bound") {
  for (size_t n : {10u, 50u}) {
    Simulator sim(/*seed=*/100 + n, NetworkFaults{});
    start_mesh(sim, n, 20);
    REQUIRE(sim.run_until([&] { return membership_converged(sim); }, 60000, 100));
    size_t victim = n / 2;
    std::string victim_id = sim.node(victim).config().node_id;
    uint64_t crashed_at = sim.now();
    sim.crash(victim);
    uint64_t bound = detection_bound_ms(MembershipConfig::local(), n);
    auto all_dead = [&] {
      for (size_t i = 0; i < n; ++i) {
        if (sim.alive(i) && belief(sim, i, victim_id) != MemberState::kDead) return false;
      }
      return true;
    };
    auto at = sim.run_until(all_dead, crashed_at + bound, 10);
    REQUIRE_MESSAGE(at.has_value(), "not everyone declared " << victim_id << " dead within " << bound << " ms");
    MESSAGE(n << " nodes: crash declared dead everywhere after " << *at - crashed_at << " ms (bound " << bound
              << " ms)");
  }
}

TEST_CASE("sim: 5% message loss and no crash declares nobody dead over a long run") {
  const size_t n = 30;
  Simulator sim(/*seed=*/7, NetworkFaults{1, 10, 0.05, 0.0});
  start_mesh(sim, n, 20);
  REQUIRE(sim.run_until([&] { return membership_converged(sim); }, 120000, 100));
  size_t false_deaths = 0;
  uint64_t end = sim.now() + 10 * 60 * 1000;  // ten simulated minutes
  while (sim.now() < end) {
    sim.run_until(sim.now() + 500);
    for (size_t i = 0; i < n; ++i) {
      for (const auto& m : sim.node(i).membership().members()) false_deaths += m.state == MemberState::kDead;
    }
  }
  uint64_t refutations = 0;
  for (size_t i = 0; i < n; ++i) refutations += sim.node(i).membership().incarnation();
  MESSAGE("5% loss, " << n << " nodes, 10 min: " << false_deaths << " false deaths seen, " << refutations
                      << " suspicions refuted");
  CHECK(false_deaths == 0);
  CHECK(membership_converged(sim));
}

TEST_CASE("sim: a partition splits the view and a heal converges it again") {
  const size_t n = 20;
  Simulator sim(/*seed=*/21, NetworkFaults{});
  start_mesh(sim, n, 20);
  REQUIRE(sim.run_until([&] { return membership_converged(sim); }, 60000, 100));
  std::vector<size_t> left, right;
  for (size_t i = 0; i < n; ++i) (i < n / 2 ? left : right).push_back(i);
  sim.partition({left, right});
  uint64_t bound = detection_bound_ms(MembershipConfig::local(), n);
  auto split = [&] {
    for (size_t i : left) {
      for (size_t j : right) {
        if (belief(sim, i, sim.node(j).config().node_id) != MemberState::kDead) return false;
        if (belief(sim, j, sim.node(i).config().node_id) != MemberState::kDead) return false;
      }
    }
    return true;
  };
  REQUIRE_MESSAGE(sim.run_until(split, sim.now() + 2 * bound, 100), "the halves did not see each other dead");
  sim.heal();
  uint64_t healed_at = sim.now();
  auto at = sim.run_until([&] { return membership_converged(sim); }, healed_at + 120000, 100);
  REQUIRE_MESSAGE(at.has_value(), "no convergence after heal");
  MESSAGE("partition of " << n << " nodes healed: one view again after " << *at - healed_at << " ms");
}

TEST_CASE("sim: a restarted node rejoins alive with a higher incarnation") {
  const size_t n = 10;
  Simulator sim(/*seed=*/33, NetworkFaults{});
  start_mesh(sim, n, 20);
  REQUIRE(sim.run_until([&] { return membership_converged(sim); }, 60000, 100));
  sim.crash(3);
  REQUIRE(sim.run_until([&] { return belief(sim, 0, "n3") == MemberState::kDead; }, sim.now() + 60000, 10));
  sim.restart(3);
  REQUIRE(sim.run_until([&] { return membership_converged(sim); }, sim.now() + 60000, 10));
  for (size_t i = 0; i < n; ++i) {
    for (const auto& m : sim.node(i).membership().members()) {
      if (m.id == "n3") CHECK(m.incarnation > 0);
    }
  }
}

// The founding node has no seeds: restarted after the others hold it dead,
// it knows nobody, and nobody probes the dead. It must find its peers at
// once through the addresses its disk kept, or its groups lose a voter
// until a dead-member sync happens to reach it.
TEST_CASE("sim: a node restarted without seeds syncs at once with the peers its disk remembers") {
  const size_t n = 4;
  Simulator sim(/*seed=*/34, NetworkFaults{});
  start_mesh(sim, n, 20);
  REQUIRE(sim.run_until([&] { return membership_converged(sim); }, 60000, 100));
  sim.crash(0);
  auto held_dead_by_all = [&] {
    for (size_t i = 1; i < n; ++i) {
      if (belief(sim, i, "n0") != MemberState::kDead) return false;
    }
    return true;
  };
  REQUIRE(sim.run_until(held_dead_by_all, sim.now() + 60000, 10));
  std::set<std::string> synced;
  bool first_step = true;
  sim.effects_hook = [&](size_t node, Effects& effects) {
    if (node != 0 || !first_step) return;
    for (const auto& out : effects.sends) {
      if (std::holds_alternative<Sync>(out.message)) synced.insert(out.to_address);
    }
    if (!effects.sends.empty()) first_step = false;
  };
  sim.restart(0);
  sim.run_until(sim.now() + 1);
  std::set<std::string> peers;
  for (size_t i = 1; i < n; ++i) peers.insert(Simulator::address_of(sim.node(i).config().node_id));
  CHECK(synced == peers);
  REQUIRE(sim.run_until([&] { return membership_converged(sim); }, sim.now() + 60000, 10));
}

TEST_CASE("sim: every node computes the same partition table, and a join moves few partitions") {
  const size_t n = 12;
  Simulator sim(/*seed=*/5, NetworkFaults{});
  start_mesh(sim, n, 20);
  REQUIRE(sim.run_until([&] { return membership_converged(sim); }, 60000, 100));
  PartitionTable before = sim.node(0).partition_table();
  for (size_t i = 1; i < n; ++i) CHECK(sim.node(i).partition_table().digest() == before.digest());

  size_t joiner = sim.add_node(sim_node_config(n));
  sim.join(joiner, {Simulator::address_of("n0")}, sim.now());
  REQUIRE(sim.run_until([&] { return membership_converged(sim); }, sim.now() + 60000, 100));
  PartitionTable after = sim.node(0).partition_table();
  for (size_t i = 1; i <= n; ++i) CHECK(sim.node(i).partition_table().digest() == after.digest());
  size_t moved = PartitionTable::moved_primaries(before, after);
  size_t partitions = before.partitions();
  MESSAGE("join of node " << n + 1 << ": " << moved << " of " << partitions << " primaries moved (1/N = "
                          << partitions / (n + 1) << ")");
  CHECK(moved <= 2 * partitions / (n + 1) + 2);
}

TEST_CASE("sim: one seed replays the same run, another seed does not") {
  auto run = [](uint64_t seed) {
    Simulator sim(seed, NetworkFaults{1, 20, 0.05, 0.02});
    start_mesh(sim, 20, 10);
    sim.run_until(5000);
    sim.crash(4);
    sim.run_until(15000);
    sim.restart(4);
    sim.run_until(30000);
    return sim.trace_hash();
  };
  uint64_t first = run(99);
  CHECK(run(99) == first);
  CHECK(run(100) != first);
}

}  // namespace
}  // namespace mesh::test

namespace mesh::test {
namespace {

// Seeded chaos: crashes, restarts, partitions, loss and duplication, then
// every fault lifted; the mesh must come back to one view. Seeds as
// seed_plan.h describes: MESH_MEMBERSHIP_SEED / MESH_MEMBERSHIP_SEEDS.
TEST_CASE("sim: seeded chaos schedules always converge once faults are lifted") {
  SeedPlan plan = seed_plan("membership", "sim: seeded chaos*", 1000, {1, 2, 3}, /*in_mesh_sim=*/true);
  SeedCounts totals = run_seed_plan(plan, run_membership_seed);
  MESSAGE(plan.seeds().size() << " chaos seeds converged: " << describe_counts(totals));
  CHECK(totals["converged"] == plan.seeds().size());
  if (plan.full_run()) CHECK(totals["crashes"] > 0);
}

}  // namespace
}  // namespace mesh::test
