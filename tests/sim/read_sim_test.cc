// Reads are linearizable: a leader cut off from its group may still believe
// it leads for a while (until check-quorum notices), while the majority has
// elected a new leader that acknowledges writes. A read served by the old
// leader in that window must never miss such a write.
#include "node/core/partitioning.h"
#include "node/sim/replication_scenario.h"
#include "tests/sim/sim_harness.h"

namespace mesh::test {
namespace {

// The answer node `node` gave to request `request`, if any.
const Reply* reply_to(const Simulator& sim, size_t node, RequestRef request) {
  for (const auto& r : sim.replies(node)) {
    if (r.request == request) return &r.reply;
  }
  return nullptr;
}

TEST_CASE("sim reads: a leader that was deposed behind a partition never answers a newer write as missing") {
  size_t windows = 0;  // runs where the old leader still led when the new leader acknowledged
  // Cutting the leader off at different instants of its check-quorum period
  // opens windows of different lengths.
  for (uint64_t shift = 0; shift < 20; ++shift) {
    CAPTURE(shift);
    ReplicatedMesh mesh(100 + shift, 5);
    Simulator& sim = mesh.sim;
    REQUIRE(sim.run_until([&] { return mesh.settled(); }, 20000, 50));
    sim.run_until(sim.now() + shift * 47);
    REQUIRE(sim.run_until([&] { return mesh.settled(); }, sim.now() + 20000, 1));
    size_t old_leader = *leader_of(sim, 0);
    std::string key = key_led_by(sim, old_leader);
    REQUIRE(!key.empty());
    uint32_t p = partition_of(key, kReplicatedPartitions);
    sim.partition({{old_leader}});
    size_t other = (old_leader + 1) % 5;
    std::vector<TaskSpec> fresh = sleep_batch("fresh-", 1, 5);
    fresh[0].key = key;
    sim.schedule(other, sim.now(), in::Submit{7, fresh});
    REQUIRE(sim.run_until([&] { return acknowledged(sim).count("fresh-0") > 0; }, sim.now() + 20000, 1));
    if (!sim.node(old_leader).leads(p)) continue;  // check-quorum was quicker: no window this time
    ++windows;
    sim.schedule(old_leader, sim.now(), in::Get{8, GetRequest{{"fresh-0"}}});
    REQUIRE(sim.run_until([&] { return reply_to(sim, old_leader, 8) != nullptr; }, sim.now() + 30000, 10));
    const Reply* answer = reply_to(sim, old_leader, 8);
    if (const auto* got = std::get_if<GetReply>(answer)) {
      CHECK_MESSAGE(got->missing.empty(), "the deposed leader answered an acknowledged write as missing");
    }
  }
  MESSAGE(windows << " of 20 runs had a deposed leader still leading after the new leader acknowledged");
  CHECK(windows > 0);
}

}  // namespace
}  // namespace mesh::test
