// Reads are linearizable: a leader cut off from its group may still believe
// it leads for a while (until check-quorum notices, later still if its clock
// runs slow), while the majority has
// elected a new leader that acknowledges writes. A read served by the old
// leader in that window must never miss such a write.
#include "node/core/partitioning.h"
#include "node/sim/replication_scenario.h"
#include "protocol/limits.h"
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
    // Its clock runs at half speed from now on (a stalled process): its
    // check-quorum comes late, so it still believes it leads when the
    // majority's new leader acknowledges.
    sim.set_clock(old_leader, NodeClock{static_cast<int64_t>(sim.now()) / 2, -500'000});
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

// Read messages (Fanout and FanoutReply) a mesh sends while `request` is
// answered at `origin`; REQUIREs the answer.
size_t read_messages(Simulator& sim, size_t origin, RequestRef request, InputEvent query) {
  size_t sent = 0;
  sim.effects_hook = [&](size_t, Effects& fx) {
    for (const auto& s : fx.sends) {
      sent += std::holds_alternative<Fanout>(s.message) || std::holds_alternative<FanoutReply>(s.message);
    }
  };
  sim.schedule(origin, sim.now(), std::move(query));
  REQUIRE(sim.run_until([&] { return reply_to(sim, origin, request) != nullptr; }, sim.now() + 30000, 1));
  // Late answers of the replicas that did not lead count too.
  sim.run_until(sim.now() + 200);
  sim.effects_hook = nullptr;
  return sent;
}

TEST_CASE("sim reads: a get or wait by id costs O(1) messages in a 100-node mesh; a keyed task is found too") {
  constexpr size_t kNodes = 100;
  ReplicatedMesh mesh(41, kNodes);
  Simulator& sim = mesh.sim;
  REQUIRE_MESSAGE(sim.run_until([&] { return mesh.settled(); }, 60000, 50), unsettled_partitions(sim));
  std::vector<TaskSpec> tasks = sleep_batch("solo-", 1, 5);
  std::vector<TaskSpec> keyed = sleep_batch("keyed-", 1, 5);
  keyed[0].key = "a-key";
  sim.schedule(5, sim.now(), in::Submit{1, tasks});
  sim.schedule(6, sim.now(), in::Submit{2, keyed});
  REQUIRE(sim.run_until([&] { return acknowledged(sim).size() == 2; }, sim.now() + 30000, 1));

  // The origin hosts no replica of the task's partition: it asks that
  // partition's replicas (the leader, when it knows it), never the mesh.
  size_t origin = 0;
  uint32_t partition = partition_of("solo-0", kReplicatedPartitions);
  while (sim.node(origin).group(partition) != nullptr) ++origin;
  size_t waited = read_messages(sim, origin, 11, in::Wait{11, WaitRequest{{"solo-0"}, false, 30000}});
  const auto* wait = std::get_if<WaitReply>(reply_to(sim, origin, 11));
  REQUIRE(wait != nullptr);
  REQUIRE(wait->records.size() == 1);
  CHECK(wait->records[0].state == TaskState::kCompleted);
  size_t got = read_messages(sim, origin, 12, in::Get{12, GetRequest{{"solo-0"}}});
  const auto* get = std::get_if<GetReply>(reply_to(sim, origin, 12));
  REQUIRE(get != nullptr);
  CHECK(get->missing.empty());
  MESSAGE("read messages in a " << kNodes << "-node mesh: wait " << waited << ", get " << got
                                << " (asking every member: " << 2 * (kNodes - 1) << ")");
  CHECK(waited <= 6);  // at most the partition's three replicas, asked and answering
  CHECK(got <= 6);

  // With the key it was submitted under, a keyed task is read as cheaply.
  size_t keyed_get = read_messages(sim, origin, 14, in::Get{14, GetRequest{{"keyed-0"}, {"a-key"}}});
  const auto* by_key = std::get_if<GetReply>(reply_to(sim, origin, 14));
  REQUIRE(by_key != nullptr);
  CHECK(by_key->records.size() == 1);
  CHECK(keyed_get <= 6);

  // Without its key, a task under a key is not in its id's partition: the
  // read widens to every member and still finds it; an unknown id is
  // answered as missing.
  size_t widened = read_messages(sim, origin, 13, in::Get{13, GetRequest{{"keyed-0", "nowhere"}}});
  const auto* both = std::get_if<GetReply>(reply_to(sim, origin, 13));
  REQUIRE(both != nullptr);
  REQUIRE(both->records.size() == 1);
  CHECK(both->records[0].spec.id == "keyed-0");
  CHECK(both->missing == std::vector<std::string>{"nowhere"});
  CHECK(widened > 6);
}

TEST_CASE("sim reads: a member that falls silent does not hold up a list once every partition has answered") {
  // A mesh where one member leads no partition: cutting it off leaves every
  // partition led and reachable, while the others still count it live.
  for (uint64_t seed = 51; seed < 71; ++seed) {
    ReplicatedMesh mesh(seed, 5);
    Simulator& sim = mesh.sim;
    REQUIRE(sim.run_until([&] { return mesh.settled(); }, 20000, 50));
    std::optional<size_t> idle;
    for (size_t i = 0; i < 5 && !idle; ++i) {
      bool leads_any = false;
      for (uint32_t p = 0; p < kReplicatedPartitions; ++p) leads_any = leads_any || sim.node(i).leads(p);
      if (!leads_any) idle = i;
    }
    if (!idle) continue;
    size_t origin = (*idle + 1) % 5;
    sim.partition({{*idle}});
    uint64_t asked = sim.now();
    sim.schedule(origin, asked, in::List{21, ListRequest{}});
    REQUIRE(sim.run_until([&] { return reply_to(sim, origin, 21) != nullptr; }, asked + 30000, 1));
    uint64_t took = sim.now() - asked;
    bool still_live = false;
    for (const auto& m : sim.node(origin).membership().members()) {
      if (m.id == sim.node(*idle).config().node_id) {
        still_live = m.state == MemberState::kAlive || m.state == MemberState::kSuspect;
      }
    }
    REQUIRE_MESSAGE(still_live, "the silent member was already declared dead: nothing was tested");
    CHECK(std::holds_alternative<ListReply>(*reply_to(sim, origin, 21)));
    MESSAGE("seed " << seed << ": list answered " << took << " ms after the silent member was cut off");
    // Well within the 1 s a round waits for a member that does not answer.
    CHECK(took < 200);
    return;
  }
  FAIL("no seed gave a member that leads no partition");
}

TEST_CASE("sim reads: a get whose records are larger than a frame is refused as too large, never lost on the wire") {
  ReplicatedMesh mesh(43, 3);
  Simulator& sim = mesh.sim;
  REQUIRE(sim.run_until([&] { return mesh.settled(); }, 20000, 50));
  size_t leader = *leader_of(sim, 0);
  std::string key = key_led_by(sim, leader);
  REQUIRE(!key.empty());
  // 18 tasks of 1 MiB payload under one key: their records together are
  // over a frame, each one alone well within.
  std::vector<std::string> ids;
  for (int batch = 0; batch < 2; ++batch) {
    std::vector<TaskSpec> tasks = sleep_batch("big" + std::to_string(batch) + "-", 9, 1);
    for (auto& t : tasks) {
      t.key = key;
      t.payload = "1" + std::string(limits::kMaxPayloadBytes - 1, ' ');
      ids.push_back(t.id);
    }
    sim.schedule(leader, sim.now(), in::Submit{static_cast<RequestRef>(20 + batch), tasks});
  }
  REQUIRE(sim.run_until([&] { return acknowledged(sim).size() == ids.size(); }, sim.now() + 30000, 1));
  size_t origin = (leader + 1) % 3;
  sim.schedule(origin, sim.now(), in::Get{30, GetRequest{ids}});
  REQUIRE(sim.run_until([&] { return reply_to(sim, origin, 30) != nullptr; }, sim.now() + 60000, 1));
  INFO(sim.wire_failure());
  CHECK(sim.wire_failure().empty());
  const auto* refused = std::get_if<ErrorReply>(reply_to(sim, origin, 30));
  REQUIRE(refused != nullptr);
  CHECK(refused->code == ErrorCode::kTooLarge);
  // Half the ids fit: they are answered.
  std::vector<std::string> half(ids.begin(), ids.begin() + 9);
  sim.schedule(origin, sim.now(), in::Get{31, GetRequest{half}});
  REQUIRE(sim.run_until([&] { return reply_to(sim, origin, 31) != nullptr; }, sim.now() + 60000, 1));
  const auto* got = std::get_if<GetReply>(reply_to(sim, origin, 31));
  REQUIRE(got != nullptr);
  CHECK(got->records.size() == 9);
}

}  // namespace
}  // namespace mesh::test

namespace mesh::test {
namespace {

TEST_CASE("sim reads: a wait longer than one long-poll round, from a node that does not lead, ends when the task does") {
  ReplicatedMesh mesh(77, 5);
  Simulator& sim = mesh.sim;
  REQUIRE(sim.run_until([&] { return mesh.settled(); }, 20000, 50));
  std::vector<TaskSpec> slow = sleep_batch("slow-", 1, 8000);  // longer than a wait round (5 s)
  slow[0].timeout_ms = 60000;
  size_t origin = 0;
  uint32_t partition = partition_of("slow-0", kReplicatedPartitions);
  while (sim.node(origin).leads(partition)) ++origin;
  sim.schedule(origin, sim.now(), in::Submit{1, slow});
  REQUIRE(sim.run_until([&] { return acknowledged(sim).count("slow-0") > 0; }, sim.now() + 20000, 1));
  uint64_t asked = sim.now();
  sim.schedule(origin, asked, in::Wait{2, WaitRequest{{"slow-0"}, false, 120000}});
  REQUIRE(sim.run_until([&] { return reply_to(sim, origin, 2) != nullptr; }, asked + 120000, 10));
  const auto* wait = std::get_if<WaitReply>(reply_to(sim, origin, 2));
  REQUIRE(wait != nullptr);
  CHECK_FALSE(wait->timed_out);
  REQUIRE(wait->records.size() == 1);
  CHECK(wait->records[0].state == TaskState::kCompleted);
  CHECK(sim.now() - asked < 30000);  // answered with the task, not at the wait's deadline
  // Each round waits for the leader's answer: no round ends on a non-leader's quick "not here".
  const auto& counters = sim.node(origin).counters();
  auto retried = counters.find("fanout_rounds_retried");
  CHECK((retried == counters.end() ? 0 : retried->second) <= 3);
}

}  // namespace
}  // namespace mesh::test
