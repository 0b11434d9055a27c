// The core reports what it sees happen as events in its effects: a crashed
// member suspected then declared dead, the partitions it led taken over, a
// replica that knows no leader for long.
#include "node/sim/replication_scenario.h"
#include "tests/sim/sim_harness.h"

namespace mesh::test {
namespace {

// Every event each node reports, into `seen` (by node index).
void record_events(Simulator& sim, std::map<size_t, std::vector<MeshEvent>>& seen) {
  sim.effects_hook = [&seen](size_t node, Effects& effects) {
    for (const auto& e : effects.events) seen[node].push_back(e);
  };
}

TEST_CASE("sim events: a crash shows as member events and leadership moving on the survivors") {
  ReplicatedMesh mesh(21, 3);
  Simulator& sim = mesh.sim;
  std::map<size_t, std::vector<MeshEvent>> seen = {};
  record_events(sim, seen);
  REQUIRE(sim.run_until([&] { return mesh.settled(); }, 20000, 50));
  auto has = [&](size_t node, const std::string& kind, const std::string& subject) {
    for (const auto& e : seen[node]) {
      if (e.kind == kind && (subject.empty() || e.subject == subject)) return true;
    }
    return false;
  };
  CHECK(has(0, "member_joined", "n1"));
  CHECK(has(0, "leader_gained", ""));
  size_t victim = *leader_of(sim, 0);
  size_t witness = (victim + 1) % 3;
  std::string victim_id = "n" + std::to_string(victim);
  seen.clear();
  sim.crash(victim);
  REQUIRE(sim.run_until([&] { return has(witness, "member_dead", victim_id); }, sim.now() + 20000, 50));
  CHECK(has(witness, "member_suspect", victim_id));
  REQUIRE(sim.run_until([&] { return mesh.settled(); }, sim.now() + 20000, 50));
  bool taken_over = has(0, "leader_gained", "") || has(1, "leader_gained", "") || has(2, "leader_gained", "");
  CHECK(taken_over);
  for (const auto& [node, events] : seen) {
    for (const auto& e : events) CHECK(e.at_ms > 0);
  }
}

TEST_CASE("sim events: a replica cut off from its group reports quorum_lost, then quorum_regained once healed") {
  ReplicatedMesh mesh(22, 3);
  Simulator& sim = mesh.sim;
  std::map<size_t, std::vector<MeshEvent>> seen = {};
  record_events(sim, seen);
  auto count_of = [&](size_t node, const std::string& kind) {
    return std::count_if(seen[node].begin(), seen[node].end(), [&](const MeshEvent& e) { return e.kind == kind; });
  };
  REQUIRE(sim.run_until([&] { return mesh.settled(); }, 20000, 50));
  sim.run_until(sim.now() + 5000);
  // Founding elects every leader within the watch's three election timeouts.
  for (size_t node = 0; node < 3; ++node) CHECK(count_of(node, "quorum_lost") == 0);
  const size_t cut = 2;
  size_t replicated = sim.node(cut).partitions_view().groups.size();
  REQUIRE(replicated > 0);
  sim.partition({{cut}});
  REQUIRE(sim.run_until([&] { return count_of(cut, "quorum_lost") == static_cast<long>(replicated); },
                        sim.now() + 20000, 50));
  for (const auto& e : seen[cut]) {
    if (e.kind == "quorum_lost") CHECK(e.detail.find("no leader known for") == 0);
  }
  CHECK(sim.node(cut).counters().at("quorum_losses_seen") == replicated);
  // A submit through the cut node says why it cannot be served.
  sim.schedule(cut, sim.now(), in::Submit{77, sleep_batch("q-", 1, 5)});
  sim.run_until(sim.now() + replicated_config(0).replication.request_deadline_ms + 1000);
  std::string answer;
  for (const auto& r : sim.replies(cut)) {
    if (const auto* submit = std::get_if<SubmitReply>(&r.reply); submit != nullptr && r.request == 77) {
      answer = submit->outcomes.at(0).message;
    }
  }
  CHECK_MESSAGE(answer.find("quorum lost for partition ") == 0, answer);
  sim.heal();
  // Healed, the cut node hears a leader of every partition it still
  // replicates (the others may have moved its replicas away meanwhile).
  REQUIRE(sim.run_until([&] { return mesh.settled(); }, sim.now() + 30000, 50));
  sim.run_until(sim.now() + 3000);
  CHECK(count_of(cut, "quorum_regained") > 0);
  CHECK(count_of(cut, "quorum_regained") <= count_of(cut, "quorum_lost"));
}

}  // namespace
}  // namespace mesh::test
