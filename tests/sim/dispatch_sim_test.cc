// Dispatch under the simulator: a partition whose group refuses proposals
// (a leadership hand-over in progress) must not stop its leader from
// dispatching the tasks of the other partitions it leads.
#include <string>

#include "node/core/partition_table.h"
#include "node/core/partitioning.h"
#include "node/sim/mesh_checks.h"
#include "node/sim/stealing_scenario.h"
#include "tests/sim/sim_harness.h"

namespace mesh::test {
namespace {

// A key of a partition whose preferred replica, once n0..n2 are live, is `node`.
std::string key_preferring(const RingConfig& ring, const std::string& node, uint32_t* partition) {
  PartitionTable table = PartitionTable::compute(ring, {"n0", "n1", "n2"});
  for (int i = 0; i < 10000; ++i) {
    std::string key = "k" + std::to_string(i);
    uint32_t p = partition_of(key, ring.partitions);
    if (table.replicas(p).front() == node) {
      *partition = p;
      return key;
    }
  }
  return {};
}

// Tasks a node's table shows started (any attempt) in a partition.
size_t started(const Simulator& sim, size_t node, uint32_t partition) {
  size_t n = 0;
  for (const auto& [id, r] : sim.node(node).table(partition)->records()) n += r.attempt > 0;
  return n;
}

TEST_CASE("sim dispatch: a partition handing over its leadership does not stall the others") {
  Simulator sim(/*seed=*/5, NetworkFaults{});
  for (size_t i = 0; i < 3; ++i) {
    NodeConfig config = stealing_config(i, /*steal=*/false);
    // One lease per free slot: otherwise attempts of the urgent partition
    // leased ahead would rightly take the slots that free during the cut.
    config.lease_ahead_max = 0;
    sim.add_node(config);
  }
  const RingConfig& ring = sim.node(0).config().ring;
  uint32_t moving = 0, staying = 0;
  std::string moving_key = key_preferring(ring, "n1", &moving);
  std::string staying_key = key_preferring(ring, "n0", &staying);
  REQUIRE(!moving_key.empty());
  REQUIRE(!staying_key.empty());

  // n0 alone leads everything; the partition about to move holds the
  // higher-priority work, so its tasks head the queue.
  sim.join(0, {}, 0);
  REQUIRE(sim.run_until([&] { return sim.node(0).leads(moving) && sim.node(0).leads(staying); }, 5000, 10));
  std::vector<TaskSpec> urgent = keyed(sleep_tasks("m-", 200, 100), moving_key);
  for (auto& t : urgent) t.priority = 10;
  sim.schedule(0, sim.now(), in::Submit{1, urgent});
  sim.schedule(0, sim.now(), in::Submit{2, keyed(sleep_tasks("s-", 200, 100), staying_key)});
  sim.join(1, {Simulator::address_of("n0")}, sim.now() + 10);
  sim.join(2, {Simulator::address_of("n0")}, sim.now() + 20);

  // The hand-over of `moving` to n1 begins: cut n1 off so that it lasts.
  REQUIRE(sim.run_until([&] { return !sim.node(0).group(moving)->transfer_target().empty(); }, sim.now() + 30000, 1));
  sim.partition({{1}});
  size_t before = started(sim, 0, staying);
  uint64_t cut_at = sim.now();
  // Runs of 100 ms free n0's slots well within the hand-over's election timeout.
  sim.run_until(cut_at + 300);
  CHECK_MESSAGE(!sim.node(0).group(moving)->transfer_target().empty(), "the hand-over ended early");
  REQUIRE(sim.node(0).leads(staying));
  size_t after = started(sim, 0, staying);
  MESSAGE("tasks of the staying partition started during 300 ms of the other's hand-over: " << after - before);
  CHECK(after > before);
}

}  // namespace
}  // namespace mesh::test
