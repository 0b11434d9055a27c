// A node whose disk is nearly full stays in the mesh read-only: it hands its
// partitions to other replicas, never campaigns, leaves appends unanswered so
// it writes nothing more, and the mesh keeps acknowledging writes; once space
// returns it catches up and leads again.
#include "node/sim/replication_scenario.h"
#include "tests/sim/sim_harness.h"

namespace mesh::test {
namespace {

size_t partitions_led_by(const Simulator& sim, size_t node) {
  size_t led = 0;
  for (uint32_t p = 0; p < kReplicatedPartitions; ++p) led += sim.node(node).leads(p);
  return led;
}

TEST_CASE("sim storage full: a full node leads nothing and writes nothing; the mesh carries on; it recovers") {
  ReplicatedMesh mesh(31, 5);
  Simulator& sim = mesh.sim;
  REQUIRE(sim.run_until([&] { return mesh.settled(); }, 20000, 50));
  size_t full = 0;
  for (size_t i = 0; i < sim.size(); ++i) {
    if (partitions_led_by(sim, i) > partitions_led_by(sim, full)) full = i;
  }
  REQUIRE(partitions_led_by(sim, full) > 0);
  sim.schedule(full, sim.now(), in::StorageSpace{true});
  REQUIRE_MESSAGE(sim.run_until([&] { return partitions_led_by(sim, full) == 0 && mesh.settled(); }, sim.now() + 20000,
                                10),
                  "still leads " << partitions_led_by(sim, full));
  uint64_t refused_before = 0;
  auto refused = [&] {
    auto it = sim.node(full).counters().find("raft_writes_refused_storage_full");
    return it == sim.node(full).counters().end() ? 0 : it->second;
  };
  refused_before = refused();
  // Writes through the full node (as the client's entry point) and through another.
  sim.schedule(full, sim.now(), in::Submit{1, sleep_batch("via-full-", 40, 5)});
  sim.schedule((full + 1) % sim.size(), sim.now(), in::Submit{2, sleep_batch("via-other-", 40, 5)});
  std::set<std::string> ids;
  REQUIRE(sim.run_until([&] { ids = acknowledged(sim); return ids.size() == 80 && all_terminal(sim, ids); },
                        sim.now() + 30000, 10));
  CHECK(partitions_led_by(sim, full) == 0);
  CHECK(refused() > refused_before);
  // Space returns: it catches up, and the ring hands it partitions again.
  sim.schedule(full, sim.now(), in::StorageSpace{false});
  REQUIRE(sim.run_until([&] { return partitions_led_by(sim, full) > 0 && mesh.settled(); }, sim.now() + 30000, 10));
  sim.run_until(sim.now() + 2000);
  CHECK(check_task_guarantees(sim, ids).failure == "");
}

}  // namespace
}  // namespace mesh::test
