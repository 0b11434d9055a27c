// Time under the simulator: every node's monotonic clock starts at its own
// instant and runs at its own rate (Simulator::set_clock), as on real hosts.
// Deadlines set on one host's clock must never be judged on another's.
#include <string>
#include <vector>

#include "node/core/partitioning.h"
#include "tests/sim/sim_harness.h"

namespace mesh::test {
namespace {

constexpr uint32_t kPartitions = 4;

NodeConfig timing_config(size_t i) {
  NodeConfig config = sim_node_config(i);
  config.handlers.insert("sleep");
  config.ring.partitions = kPartitions;
  config.ring.replicas = 3;
  config.lease_ttl_ms = 20000;  // leases outlive the test: only timeouts can end an attempt
  return config;
}

std::vector<TaskSpec> sleep_tasks(const std::string& key, size_t n, uint64_t run_ms) {
  std::vector<TaskSpec> tasks;
  for (size_t i = 0; i < n; ++i) {
    TaskSpec t;
    t.id = "t-" + std::to_string(i);
    t.key = key;
    t.handler = "sleep";
    t.payload = std::to_string(run_ms);
    t.timeout_ms = 8000;
    tasks.push_back(std::move(t));
  }
  return tasks;
}

uint64_t timed_out_attempts(const Simulator& sim) {
  uint64_t total = 0;
  for (size_t i = 0; i < sim.size(); ++i) {
    if (!sim.alive(i)) continue;
    auto it = sim.node(i).counters().find("attempts_timed_out");
    if (it != sim.node(i).counters().end()) total += it->second;
  }
  return total;
}

// Four nodes, R = 3; node i's clock is `clocks[i]`. Returns once every
// partition has a leader with its full replica set.
void start_clocked_mesh(Simulator& sim, const std::vector<NodeClock>& clocks) {
  for (size_t i = 0; i < clocks.size(); ++i) {
    sim.add_node(timing_config(i));
    sim.set_clock(i, clocks[i]);
  }
  sim.join(0, {}, 0);
  for (size_t i = 1; i < clocks.size(); ++i) sim.join(i, {Simulator::address_of("n0")}, i * 20);
  auto settled = [&] {
    for (uint32_t p = 0; p < kPartitions; ++p) {
      auto leader = leader_of(sim, p);
      if (!leader || sim.node(*leader).group(p)->voters().size() != 3) return false;
    }
    return true;
  };
  REQUIRE(sim.run_until(settled, 20000, 50));
}

TEST_CASE("sim timing: a leader whose clock is 10 s ahead takes over running attempts without timing them out") {
  Simulator sim(11, {});
  // n0 reads 10 s behind everyone else; the others drift by up to 1%.
  start_clocked_mesh(sim, {{0, 0}, {10000, 10000}, {10000, -10000}, {10000, 5000}});
  std::string key = key_led_by(sim, 0);
  uint32_t partition = partition_of(key, kPartitions);
  sim.schedule(0, sim.now(), in::Submit{1, sleep_tasks(key, 12, 3000)});
  // Until thieves run some of the tasks: their attempts survive n0's crash.
  auto running_elsewhere = [&] {
    for (size_t i = 1; i < 4; ++i) {
      if (sim.node(i).running() > 0) return true;
    }
    return false;
  };
  REQUIRE(sim.run_until(running_elsewhere, sim.now() + 2000, 5));
  sim.crash(0);
  uint64_t crashed_at = sim.now();
  // A new leader takes over well within the attempts' 8 s timeout.
  REQUIRE(sim.run_until([&] { return leader_of(sim, partition).has_value(); }, crashed_at + 5000, 10));
  sim.run_until(crashed_at + 5000);
  INFO(describe_partition(sim, partition));
  CHECK(timed_out_attempts(sim) == 0);
}

TEST_CASE("sim timing: pending tasks stamped by a leader whose clock is 60 s ahead run soon after a takeover") {
  Simulator sim(12, {});
  start_clocked_mesh(sim, {{60000, 0}, {0, 10000}, {0, -10000}, {0, 0}});
  std::string key = key_led_by(sim, 0);
  uint32_t partition = partition_of(key, kPartitions);
  // More tasks than the mesh has slots: most are still pending at the crash.
  std::vector<TaskSpec> tasks = sleep_tasks(key, 200, 50);
  for (auto& t : tasks) t.backoff_max_ms = 100;
  sim.schedule(0, sim.now(), in::Submit{1, tasks});
  sim.run_until(sim.now() + 500);
  // What a surviving replica holds as pending (never run) when n0 crashes.
  std::vector<std::string> pending;
  for (const auto& [id, r] : sim.node(1).table(partition)->records()) {
    if (r.state == TaskState::kPending && r.attempts.empty()) pending.push_back(id);
  }
  REQUIRE(!pending.empty());
  sim.crash(0);
  uint64_t crashed_at = sim.now();
  auto pending_started = [&] {
    auto leader = leader_of(sim, partition);
    if (!leader) return false;
    // n0 stamps its leases 60 s ahead of the others: a first attempt
    // started on a survivor's clock was leased after the takeover.
    uint64_t survivor_now = sim.local_time(*leader, sim.now());
    for (const auto& id : pending) {
      const TaskRecord* r = sim.node(*leader).table(partition)->find(id);
      if (r != nullptr && r->attempts.size() == 1 && r->attempts.back().started_ms <= survivor_now) return true;
    }
    return false;
  };
  INFO(describe_partition(sim, partition));
  CHECK(sim.run_until(pending_started, crashed_at + 5000, 10).has_value());
}

}  // namespace
}  // namespace mesh::test
