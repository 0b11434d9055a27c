// SIGTERM one node of three while every slot is busy: it stops taking work,
// lets the attempts it runs finish, exits 0, and the two others finish the
// rest. Nothing is lost and no attempt starts on it after the signal.
#include <signal.h>

#include <set>

#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

TEST_CASE("three meshd: SIGTERM drains one node under load and loses nothing") {
  const size_t n = 3;
  TempDir temp("meshdrain3-");
  REQUIRE(!temp.path().empty());
  auto nodes = start_mesh(n, "d", temp.path(), {"--slots", "2", "--drain-grace-ms", "600000"});
  auto client = nodes[0]->client();
  REQUIRE(wait_until([&] { return alive_members(*client) == n; }));

  // More gated tasks than slots: every slot stays busy until the gate opens.
  Gate gate;
  std::vector<TaskSpec> tasks;
  std::vector<std::string> ids;
  for (int i = 0; i < 30; ++i) {
    ids.push_back("g-" + std::to_string(i));
    tasks.push_back(gate.task(ids.back()));
  }
  auto submitted = client->submit(tasks);
  REQUIRE(submitted.ok());
  for (const auto& o : submitted.value().outcomes) REQUIRE(o.code == ErrorCode::kOk);

  const std::string victim = "d2";
  std::set<std::string> leased_by_victim;
  std::string seen;
  REQUIRE_MESSAGE(wait_until([&] {
                    auto records = client->get(ids);
                    if (!records.ok()) return false;
                    leased_by_victim.clear();
                    seen.clear();
                    bool victim_runs_one = false;
                    for (const auto& r : records.value().records) {
                      if (r.state != TaskState::kLeased) continue;
                      seen += r.spec.id + "@" + r.lease_owner + " ";
                      if (r.lease_owner != victim) continue;
                      leased_by_victim.insert(r.spec.id);
                      victim_runs_one = victim_runs_one || gate.started(r.spec.id);
                    }
                    return victim_runs_one;
                  }),
                  "leased: " << seen);
  MESSAGE("at the SIGTERM: " << seen);

  TestNode& draining = *nodes[2];
  draining.process().signal(SIGTERM);
  REQUIRE(!draining.process().wait_exit(200).has_value());  // still running its attempts
  gate.open();
  auto code = draining.process().wait_exit(kDeadlineMs);
  REQUIRE_MESSAGE(code == 0, draining.log());

  auto done = client->wait(WaitRequest{ids, false, 600000});
  REQUIRE_MESSAGE(done.ok(), done.status().message());
  REQUIRE_MESSAGE(!done.value().timed_out, nodes[0]->log());
  CHECK(done.value().missing.empty());
  REQUIRE(done.value().records.size() == ids.size());
  for (const auto& r : done.value().records) {
    INFO("task " << r.spec.id);
    CHECK(r.state == TaskState::kCompleted);
    check_attempt_history(r);
    for (const auto& a : r.attempts) {
      // Only what it ran at the SIGTERM ran on the draining node.
      if (a.runner == victim) CHECK(leased_by_victim.count(r.spec.id) == 1);
    }
  }
}

TEST_CASE("meshctl drain: a node asked over the wire hands its leaderships over and exits 0") {
  const size_t n = 3;
  TempDir temp("meshdrainctl-");
  REQUIRE(!temp.path().empty());
  auto nodes = start_mesh(n, "r", temp.path(), {});
  auto client = nodes[0]->client();
  REQUIRE(wait_until([&] { return alive_members(*client) == n; }));
  auto& leaving = nodes[2]->process();
  Exit asked = run_command(std::string(MESHCTL_PATH) + " --addr " + leaving.endpoint() + " drain");
  CHECK_MESSAGE(asked.code == 0, asked.output);
  CHECK_MESSAGE(asked.output.find(" drains: hands over ") != std::string::npos, asked.output);
  CHECK_MESSAGE(leaving.wait_exit(kDeadlineMs) == 0, nodes[2]->log());
  CHECK(nodes[2]->log().find("event=draining cause=\"meshctl drain\"") != std::string::npos);
  // The others serve every partition without it.
  REQUIRE(client->submit({task("after-drain", "noop")}).ok());
  auto done = client->wait(WaitRequest{{"after-drain"}, false, kDeadlineMs});
  REQUIRE(done.ok());
  REQUIRE(done.value().records.size() == 1);
  CHECK(done.value().records[0].state == TaskState::kCompleted);
}

TEST_CASE("meshctl operator remove-replica: a dead node's replica leaves every group, writes go on") {
  const size_t n = 3;  // R=3: nothing can replace the dead node's replicas
  TempDir temp("meshremove-");
  REQUIRE(!temp.path().empty());
  auto nodes = start_mesh(n, "x", temp.path(), {});
  auto client = nodes[0]->client();
  REQUIRE(wait_until([&] { return alive_members(*client) == n; }));
  auto members = client->call(MembersRequest{});
  REQUIRE(members.ok());
  std::string gone_replica;
  const std::string gone_endpoint = nodes[2]->process().endpoint();
  for (const auto& m : std::get<MembersReply>(members.value()).members) {
    if (m.address == gone_endpoint) gone_replica = m.replica_id;
  }
  REQUIRE(!gone_replica.empty());
  auto groups_holding_it = [&] {
    size_t holding = 0;
    for (size_t i = 0; i < 2; ++i) {
      auto reply = nodes[i]->client()->call(PartitionsRequest{});
      if (!reply.ok()) return size_t{999};
      for (const auto& g : std::get<PartitionsReply>(reply.value()).groups) {
        if (g.role == "leader") holding += std::count(g.voters.begin(), g.voters.end(), gone_replica);
      }
    }
    return holding;
  };
  // Every group whole (three voters) first: a group still growing would lose
  // its majority with the node.
  auto whole_groups = [&] {
    size_t whole = 0;
    uint32_t partitions = 0;
    for (auto& node : nodes) {
      auto reply = node->client()->call(PartitionsRequest{});
      if (!reply.ok()) return false;
      const auto& view = std::get<PartitionsReply>(reply.value());
      partitions = view.partitions;
      for (const auto& g : view.groups) whole += g.role == "leader" && g.voters.size() == n;
    }
    return partitions > 0 && whole == partitions;
  };
  REQUIRE(wait_until(whole_groups));
  REQUIRE(groups_holding_it() > 0);
  nodes[2]->process().signal(SIGKILL);
  REQUIRE(nodes[2]->process().wait_exit(kDeadlineMs) == 128 + SIGKILL);
  // Dead, not only suspect, on every live node: a node that still suspects
  // it refuses to remove a live member's replica.
  auto dead_on = [&](size_t i) {
    auto view = nodes[i]->client()->call(MembersRequest{});
    if (!view.ok()) return false;
    for (const auto& m : std::get<MembersReply>(view.value()).members) {
      if (m.replica_id == gone_replica) return m.state == MemberState::kDead;
    }
    return false;
  };
  REQUIRE(wait_until([&] { return dead_on(0) && dead_on(1); }));

  Exit removed = run_command(std::string(MESHCTL_PATH) + " --addr " + nodes[0]->process().endpoint() +
                             " operator remove-replica " + gone_replica);
  CHECK_MESSAGE(removed.code == 0, removed.output);
  CHECK_MESSAGE(removed.output.find("is being removed from ") != std::string::npos, removed.output);
  size_t left = 0;
  CHECK_MESSAGE(wait_until([&] { return (left = groups_holding_it()) == 0; }), left << " groups still hold it");
  std::string answer;
  REQUIRE_MESSAGE(wait_until([&] {
                    auto submitted = client->submit({task("after-removal", "noop")});
                    if (!submitted.ok()) {
                      answer = submitted.status().message();
                      return false;
                    }
                    const SubmitOutcome& outcome = submitted.value().outcomes.at(0);
                    answer = std::string(error_name(outcome.code)) + ": " + outcome.message;
                    return outcome.code == ErrorCode::kOk;
                  }),
                  answer);
  auto done = client->wait(WaitRequest{{"after-removal"}, false, kDeadlineMs});
  REQUIRE(done.ok());
  REQUIRE(done.value().records.size() == 1);
  CHECK(done.value().records[0].state == TaskState::kCompleted);
  // A live node's own replica is refused: drain it instead.
  Exit refused = run_command(std::string(MESHCTL_PATH) + " --addr " + nodes[0]->process().endpoint() +
                             " operator remove-replica " + std::get<MembersReply>(members.value()).members[0].replica_id);
  CHECK_MESSAGE(refused.code == 1, refused.output);
  CHECK_MESSAGE(refused.output.find("drain") != std::string::npos, refused.output);
}

}  // namespace
}  // namespace mesh::test
