// Two nodes of five die at once. Every partition that kept a majority of its
// voters must be led again soon: its leader must neither promote a dead
// replica (raising the quorum to 3 of 4 with two of them dead) nor hand the
// lead to one.
#include "node/sim/replication_scenario.h"
#include "tests/sim/sim_harness.h"

namespace mesh::test {
namespace {

std::set<std::string> live_replica_ids(const Simulator& sim) {
  std::set<std::string> ids;
  for (size_t i = 0; i < sim.size(); ++i) {
    if (sim.alive(i)) ids.insert(sim.node(i).replica_id());
  }
  return ids;
}

std::map<uint32_t, std::vector<std::string>> voters_by_partition(const Simulator& sim) {
  std::map<uint32_t, std::vector<std::string>> voters;
  for (uint32_t p = 0; p < kReplicatedPartitions; ++p) {
    if (auto l = leader_of(sim, p)) voters[p] = sim.node(*l).group(p)->voters();
  }
  return voters;
}

TEST_CASE("sim double crash: partitions that keep a majority are led again; no dead replica is promoted or handed the lead") {
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    CAPTURE(seed);
    ReplicatedMesh mesh(seed, 5);
    Simulator& sim = mesh.sim;
    REQUIRE(sim.run_until([&] { return mesh.fully_replicated(); }, 30000, 50));
    // Writes keep coming, so replacements are being caught up when the crash hits.
    sim.schedule(0, sim.now(), in::Submit{1, sleep_batch("before-", 60, 5)});
    sim.run_until(sim.now() + 300);
    // The first death moves the ring: leaders add replacements as learners.
    // The second node dies the moment one of its learners has caught up,
    // before its leader's next reconcile could promote it.
    size_t first = 1 + seed % 4;
    sim.crash(first);
    std::optional<size_t> second;
    auto caught_up_learner = [&]() -> std::optional<size_t> {
      for (uint32_t p = 0; p < kReplicatedPartitions; ++p) {
        auto l = leader_of(sim, p);
        if (!l) continue;
        RaftStatus status = sim.node(*l).group(p)->status();
        for (const auto& f : status.followers) {
          bool learner = std::count(status.learners.begin(), status.learners.end(), f.id) > 0;
          if (!learner || f.match_index + 8 < status.last_index) continue;
          for (size_t i = 0; i < sim.size(); ++i) {
            if (i != 0 && sim.alive(i) && sim.node(i).replica_id() == f.id) return i;
          }
        }
      }
      return std::nullopt;
    };
    REQUIRE(sim.run_until([&] { return (second = caught_up_learner()).has_value(); }, sim.now() + 20000, 1));
    auto voters_before = voters_by_partition(sim);
    sim.crash(*second);
    std::set<std::string> live = live_replica_ids(sim);
    std::vector<uint32_t> must_lead;
    for (const auto& [p, voters] : voters_before) {
      size_t alive = std::count_if(voters.begin(), voters.end(), [&](const std::string& v) { return live.count(v) > 0; });
      if (2 * alive > voters.size()) must_lead.push_back(p);
    }
    REQUIRE(must_lead.size() > kReplicatedPartitions / 2);
    std::vector<uint32_t> leaderless;
    auto all_led = [&] {
      leaderless.clear();
      for (uint32_t p : must_lead) {
        auto l = leader_of(sim, p);
        if (!l || !sim.alive(*l)) leaderless.push_back(p);
      }
      return leaderless.empty();
    };
    // Bound: suspicion and dead declaration, then an election or two.
    REQUIRE_MESSAGE(sim.run_until(all_led, sim.now() + 20000, 10),
                    leaderless.size() << " of " << must_lead.size() << " partitions with a live majority stay leaderless");
  }
}

}  // namespace
}  // namespace mesh::test
