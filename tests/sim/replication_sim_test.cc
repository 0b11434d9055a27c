// Replicated partitions under the simulator: DESIGN §7 guarantees 1-4 with
// crashes, restarts (some with a wiped disk), loss, duplication, reordering
// and partitions, over many seeds; plus the classic Raft traps as scenarios
// of their own.
#include "node/core/partitioning.h"
#include "node/sim/replication_scenario.h"
#include "tests/sim/seed_plan.h"
#include "tests/sim/sim_harness.h"

namespace mesh::test {
namespace {

// Seeds as seed_plan.h describes: MESH_REPLICATION_SEED / MESH_REPLICATION_SEEDS.
TEST_CASE("sim replication: seeded chaos loses no acknowledged task and commits no task twice") {
  SeedPlan plan = seed_plan("replication", "sim replication: seeded*", 1000, {1, 2, 3}, /*in_mesh_sim=*/true);
  SeedCounts totals = run_seed_plan(plan, run_replication_seed);
  MESSAGE(plan.seeds().size() << " seeds, no acknowledged task lost, none with two results: "
                              << describe_counts(totals));
  CHECK(totals["replicas_compared"] > 0);
  if (plan.full_run()) {
    CHECK(totals["crashes"] > 0);
    CHECK(totals["restarts_with_wiped_disk"] > 0);
    CHECK(totals["crashes_before_a_write"] > 0);
  }
}

TEST_CASE("sim replication: a leader cut off from its followers steps down and its writes are not acknowledged") {
  ReplicatedMesh mesh(5, 5);
  Simulator& sim = mesh.sim;
  REQUIRE(sim.run_until([&] { return mesh.settled(); }, 20000, 50));
  size_t old_leader = *leader_of(sim, 0);
  std::string key = key_led_by(sim, old_leader);
  REQUIRE_MESSAGE(!key.empty(), "the node leads no partition");
  uint32_t p = partition_of(key, kReplicatedPartitions);
  uint64_t old_term = sim.node(old_leader).group(p)->term();
  sim.partition({{old_leader}});
  // A client on the isolated side: its write cannot reach a majority.
  std::vector<TaskSpec> cut = sleep_batch("cut-", 3, 5);
  for (auto& t : cut) t.key = key;
  sim.schedule(old_leader, sim.now(), in::Submit{100, cut});
  // The majority elects a new leader and takes writes.
  REQUIRE(sim.run_until([&] { auto l = leader_of(sim, p); return l && *l != old_leader; }, sim.now() + 10000, 10));
  size_t other = (old_leader + 1) % 5;
  std::vector<TaskSpec> ok = sleep_batch("ok-", 3, 5);
  for (auto& t : ok) t.key = key;
  sim.schedule(other, sim.now(), in::Submit{101, ok});
  REQUIRE(sim.run_until([&] { return acknowledged(sim).count("ok-2") > 0; }, sim.now() + 10000, 10));
  // Check-quorum: the cut-off leader has stepped down by now.
  CHECK_FALSE(sim.node(old_leader).leads(p));
  for (const auto& t : cut) CHECK(acknowledged(sim).count(t.id) == 0);
  sim.heal();
  std::set<std::string> ids = acknowledged(sim);
  REQUIRE(sim.run_until([&] { return mesh.settled() && all_terminal(sim, ids); }, sim.now() + 20000, 50));
  sim.run_until(sim.now() + 1000);
  CHECK(check_task_guarantees(sim, ids).failure == "");
  CHECK(sim.node(*leader_of(sim, p)).group(p)->term() > old_term);
  // The isolated submit was not acknowledged while its origin was cut off
  // (checked above). Its origin keeps routing it until the request deadline,
  // so after the heal the new leader may commit it: it is answered, and any
  // kOk names a task its partition's leader holds.
  auto cut_reply = [&]() -> const SubmitReply* {
    for (const auto& r : sim.replies(old_leader)) {
      if (r.request == 100) return &std::get<SubmitReply>(r.reply);
    }
    return nullptr;
  };
  REQUIRE(sim.run_until([&] { return cut_reply() != nullptr; },
                        sim.now() + replicated_config(0).replication.request_deadline_ms + 1000, 10));
  REQUIRE(cut_reply()->outcomes.size() == cut.size());
  for (const auto& o : cut_reply()->outcomes) {
    CAPTURE(o.id);
    if (o.code == ErrorCode::kOk) CHECK(leader_record(sim, o.id) != nullptr);
  }
}

TEST_CASE("sim replication: a replica restarted with an empty disk rejoins under a new id and catches up") {
  ReplicatedMesh mesh(6, 5);
  Simulator& sim = mesh.sim;
  REQUIRE(sim.run_until([&] { return mesh.settled(); }, 20000, 50));
  sim.schedule(1, sim.now(), in::Submit{1, sleep_batch("a-", 160, 5)});
  std::set<std::string> first;
  REQUIRE(sim.run_until([&] { first = acknowledged(sim); return first.size() == 160 && all_terminal(sim, first); },
                        sim.now() + 10000, 10));
  size_t wiped = 2;
  std::string old_id = sim.node(wiped).replica_id();
  sim.crash(wiped);
  sim.run_until(sim.now() + 3000);
  sim.restart(wiped, /*wipe_disk=*/true);
  CHECK(sim.node(wiped).replica_id() != old_id);
  sim.schedule(3, sim.now(), in::Submit{2, sleep_batch("b-", 40, 5)});
  std::set<std::string> ids;
  REQUIRE(sim.run_until([&] { ids = acknowledged(sim); return ids.size() == 200 && mesh.settled() && all_terminal(sim, ids); },
                        sim.now() + 30000, 50));
  sim.run_until(sim.now() + 2000);
  CHECK(check_task_guarantees(sim, ids).failure == "");
  // The old id is gone from every group; the new one serves where the ring wants it.
  size_t hosted_with_new_id = 0;
  for (uint32_t p = 0; p < kReplicatedPartitions; ++p) {
    auto l = leader_of(sim, p);
    REQUIRE(l);
    const auto& voters = sim.node(*l).group(p)->voters();
    CHECK(std::find(voters.begin(), voters.end(), old_id) == voters.end());
    hosted_with_new_id += std::find(voters.begin(), voters.end(), sim.node(wiped).replica_id()) != voters.end();
  }
  CHECK(hosted_with_new_id > 0);
  CHECK(sim.node(wiped).counters().count("snapshots_installed"));
}

TEST_CASE("sim replication: a draining node hands its leaderships over before an election timeout could pass") {
  ReplicatedMesh mesh(8, 5);
  Simulator& sim = mesh.sim;
  REQUIRE(sim.run_until([&] { return mesh.settled(); }, 20000, 50));
  sim.run_until(sim.now() + 2000);
  size_t draining = *leader_of(sim, 0);
  std::vector<uint32_t> led;
  for (uint32_t p = 0; p < kReplicatedPartitions; ++p) {
    if (leader_of(sim, p) == draining) led.push_back(p);
  }
  REQUIRE(!led.empty());
  sim.schedule(draining, sim.now(), in::Drain{});
  // Handed over (a transfer: the successor campaigns at once), not lost to
  // an election timeout the others would wait out.
  const uint64_t within_ms = replicated_config(0).replication.election_timeout_ms / 2;
  bool handed_over = sim.run_until(
      [&] {
        for (uint32_t p : led) {
          auto leader = leader_of(sim, p);
          if (!leader || *leader == draining) return false;
        }
        return true;
      },
      sim.now() + within_ms, 5).has_value();
  std::string still;
  for (uint32_t p : led) {
    if (leader_of(sim, p) == draining) still += " " + std::to_string(p);
  }
  CHECK_MESSAGE(handed_over, "still led by the draining node after " << within_ms << " ms:" << still);
  CHECK(sim.node(draining).counters().count("leaderships_handed_over_draining"));
}

TEST_CASE("sim replication: an operator removes the replica of a node gone for good; its groups run on without it") {
  // Three nodes, R=3: when one is gone for good the ring has nothing to
  // replace it with, and its replica stays a voter of every group.
  ReplicatedMesh mesh(9, 3);
  Simulator& sim = mesh.sim;
  REQUIRE(sim.run_until([&] { return mesh.settled(); }, 20000, 50));
  const size_t gone = 2;
  const std::string gone_replica = sim.node(gone).replica_id();
  sim.crash(gone);
  auto voters_with_it = [&] {
    size_t groups = 0;
    for (uint32_t p = 0; p < kReplicatedPartitions; ++p) {
      auto leader = leader_of(sim, p);
      if (!leader || *leader == gone) continue;
      const auto& voters = sim.node(*leader).group(p)->voters();
      groups += std::count(voters.begin(), voters.end(), gone_replica);
    }
    return groups;
  };
  sim.run_until(sim.now() + 10000);
  REQUIRE(voters_with_it() > 0);

  // A live member's current replica is drained, not removed.
  sim.schedule(0, sim.now(), in::RemoveReplica{200, sim.node(1).replica_id()});
  sim.run_until(sim.now() + 10);
  bool refused = false;
  for (const auto& r : sim.replies(0)) {
    const auto* error = std::get_if<ErrorReply>(&r.reply);
    refused = refused || (r.request == 200 && error != nullptr && error->code == ErrorCode::kInvalidArgument);
  }
  CHECK(refused);

  // The operator's word reaches every survivor, as meshctl sends it.
  for (size_t i = 0; i < 2; ++i) sim.schedule(i, sim.now(), in::RemoveReplica{100, gone_replica});
  REQUIRE_MESSAGE(sim.run_until([&] { return voters_with_it() == 0; }, sim.now() + 20000, 50),
                  voters_with_it() << " groups still count " << gone_replica);
  size_t named = 0;
  for (size_t i = 0; i < 2; ++i) {
    for (const auto& r : sim.replies(i)) {
      if (const auto* reply = std::get_if<RemoveReplicaReply>(&r.reply)) named += reply->partitions.size();
    }
  }
  CHECK(named > 0);
  CHECK(sim.node(0).counters().count("replicas_removed_by_operator") +
            sim.node(1).counters().count("replicas_removed_by_operator") >
        0);
  // Two voters of two live nodes: writes commit.
  sim.schedule(0, sim.now(), in::Submit{300, sleep_batch("after-", 20, 5)});
  std::set<std::string> ids;
  REQUIRE(sim.run_until([&] { ids = acknowledged(sim); return ids.size() == 20 && all_terminal(sim, ids); },
                        sim.now() + 20000, 50));
}

// A lone voter commits its own entries at once. Killed after its early
// sends and before its write, it must leave no learner holding a commit
// index or a term its disk lacks: that learner, promoted later, would keep
// entries the restarted leader writes anew under the same index and term.
TEST_CASE("sim replication: a lone voter killed before its write leaves no learner ahead of its disk") {
  Simulator sim(11, NetworkFaults{1, 10, 0, 0});
  for (size_t i = 0; i < 2; ++i) sim.add_node(replicated_config(i));
  sim.join(0, {}, 0);
  sim.join(1, {Simulator::address_of("n0")}, 20);
  // n0 founds every group alone; R = 3 adds n1 as a learner first.
  auto lone_voter_with_learner = [&]() -> std::optional<uint32_t> {
    for (uint32_t p = 0; p < kReplicatedPartitions; ++p) {
      const RaftGroup* g = sim.node(0).group(p);
      if (g == nullptr || g->role() != RaftRole::kLeader || g->voters().size() != 1) continue;
      for (const auto& f : g->status().followers) {
        if (f.state == ReplicationState::kReplicate && f.match_index == g->log().last_index()) return p;
      }
    }
    return std::nullopt;
  };
  std::optional<uint32_t> partition;
  REQUIRE(sim.run_until([&] { return (partition = lone_voter_with_learner()).has_value(); }, 20000, 1));
  std::string key;
  for (int i = 0; key.empty(); ++i) {
    if (partition_of("k" + std::to_string(i), kReplicatedPartitions) == *partition) key = "k" + std::to_string(i);
  }
  std::vector<TaskSpec> tasks = sleep_batch("lone-", 5, 10);
  for (auto& t : tasks) t.key = key;
  sim.crash_before_next_write(0);
  sim.schedule(0, sim.now(), in::Submit{1, tasks});
  REQUIRE(sim.run_until([&] { return !sim.alive(0); }, sim.now() + 1000, 1));
  sim.run_until(sim.now() + 50);  // whatever left early has arrived
  sim.restart(0);
  sim.run_until(sim.now());
  const RaftGroup& leader_disk = *sim.node(0).group(*partition);
  const RaftGroup& learner = *sim.node(1).group(*partition);
  CHECK(learner.commit_index() <= leader_disk.log().last_index());
  CHECK(learner.term() <= leader_disk.term());
}

TEST_CASE("sim replication: a crashed leader's partitions fail over and lose nothing") {
  ReplicatedMesh mesh(7, 5);
  Simulator& sim = mesh.sim;
  REQUIRE(sim.run_until([&] { return mesh.settled(); }, 20000, 50));
  // A minority of every replica set: each partition keeps a majority, elects
  // a new leader where needed, and the ring re-replicates. Its client's
  // origin node routes again to the new leaders.
  size_t crashed = *leader_of(sim, 0);
  sim.schedule((crashed + 2) % 5, sim.now(), in::Submit{1, sleep_batch("x-", 60, 20)});
  sim.run_until(sim.now() + 30);
  sim.crash(crashed);
  uint64_t crashed_at = sim.now();
  sim.schedule((crashed + 1) % 5, sim.now() + 10, in::Submit{2, sleep_batch("y-", 60, 20)});
  std::set<std::string> ids;
  auto done = sim.run_until([&] { ids = acknowledged(sim); return ids.size() == 120 && all_terminal(sim, ids); },
                            sim.now() + 30000, 10);
  if (!done) {
    std::string seen = "acknowledged " + std::to_string(ids.size()) + " of 120;";
    for (const auto& r : sim.replies((crashed + 1) % 5)) seen += " reply to request " + std::to_string(r.request);
    for (const auto& r : sim.replies((crashed + 2) % 5)) seen += " reply to request " + std::to_string(r.request);
    for (size_t i = 0; i < sim.size(); ++i) {
      if (!sim.alive(i)) continue;
      seen += "\n  n" + std::to_string(i) + ":";
      for (const auto& [name, v] : sim.node(i).counters()) seen += " " + name + "=" + std::to_string(v);
    }
    FAIL(seen << unsettled_partitions(sim));
  }
  MESSAGE("leader node crashed: all 120 tasks acknowledged and finished " << (*done - crashed_at)
                                                                           << " ms after the crash");
  sim.restart(crashed);
  REQUIRE(sim.run_until([&] { return mesh.settled(); }, sim.now() + 30000, 50));
  sim.run_until(sim.now() + 2000);
  CHECK(check_task_guarantees(sim, ids).failure == "");
}

}  // namespace
}  // namespace mesh::test
