// Work stealing between real processes: 400 tasks of 50 ms keyed to one
// partition queue on its leader among four meshd and spread to the idle
// three, every task completes once, and the leader's `meshctl steals` shows
// who took what. Speed is meshbench's job.
#include <optional>

#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

TEST_CASE("four meshd: tasks piled on one node are stolen by the idle ones") {
  const size_t n = 4;
  std::string dir = make_temp_dir("meshsteal-");
  std::vector<std::unique_ptr<TestNode>> nodes;
  for (size_t i = 0; i < n; ++i) {
    std::string id = "s" + std::to_string(i);
    std::vector<std::string> args = {"--node-id", id, "--gossip-profile", "local", "--slots", "2"};
    if (i > 0) args.insert(args.end(), {"--seeds", nodes[0]->process().endpoint()});
    nodes.push_back(std::make_unique<TestNode>(args, dir + "/" + id));
    nodes.back()->start();
  }
  auto client = nodes[0]->client();
  REQUIRE(wait_until([&] {
    auto reply = client->call(MembersRequest{});
    if (!reply.ok()) return false;
    size_t alive = 0;
    for (const auto& m : std::get<MembersReply>(reply.value()).members) alive += m.state == MemberState::kAlive;
    return alive == n;
  }));
  // Leadership settles on the ring's preferred replicas, so the partition's
  // leader does not change hands while the test runs.
  REQUIRE(wait_until([&] {
    size_t led_as_preferred = 0;
    uint32_t partitions = 0;
    for (const auto& node : nodes) {
      auto reply = node->client()->call(PartitionsRequest{});
      if (!reply.ok()) return false;
      const auto& view = std::get<PartitionsReply>(reply.value());
      partitions = view.partitions;
      for (const auto& g : view.groups) {
        led_as_preferred += g.role == "leader" && view.table.at(g.partition).replicas.front() == view.node_id;
      }
    }
    return partitions > 0 && led_as_preferred == partitions;
  }));

  std::vector<TaskSpec> tasks;
  std::vector<std::string> ids;
  for (int i = 0; i < 400; ++i) {
    ids.push_back("pile-" + std::to_string(i));
    tasks.push_back(task(ids.back(), "sleep", "50"));
    tasks.back().key = "pile";
  }
  TaskSpec pinned = task("pinned", "sleep", "50");
  pinned.key = "pile";
  pinned.stealable = false;
  tasks.push_back(pinned);
  ids.push_back("pinned");
  auto submitted = client->submit(tasks);
  REQUIRE(submitted.ok());
  auto done = client->wait(WaitRequest{ids, false, 600000});
  REQUIRE(done.ok());
  REQUIRE_FALSE(done.value().timed_out);

  std::map<std::string, size_t> ran_on;
  std::string pinned_ran_on;
  for (const auto& r : done.value().records) {
    INFO("task " << r.spec.id);
    CHECK(r.state == TaskState::kCompleted);
    check_attempt_history(r);
    ++ran_on[r.attempts.back().runner];
    if (r.spec.id == "pinned") pinned_ran_on = r.attempts.back().runner;
  }
  // The partition's leader is the one node that lent tasks; the task that
  // may not be stolen ran there.
  std::string leader;
  std::optional<StealsReply> leader_steals;
  for (size_t i = 0; i < n; ++i) {
    auto steals = nodes[i]->client()->call(StealsRequest{});
    REQUIRE(steals.ok());
    const auto& reply = std::get<StealsReply>(steals.value());
    if (reply.counters.at("tasks_lent") == 0) continue;
    CHECK_MESSAGE(leader.empty(), "both " << leader << " and " << reply.node_id << " lent tasks");
    leader = reply.node_id;
    leader_steals = reply;
  }
  std::string spread;
  for (const auto& [runner, count] : ran_on) spread += runner + "=" + std::to_string(count) + " ";
  MESSAGE("400 tasks of 50 ms queued on " << leader << " ran on: " << spread);
  REQUIRE(leader_steals);
  CHECK(pinned_ran_on == leader);
  CHECK(ran_on.size() == n);  // every idle node took some

  const StealsReply& reply = *leader_steals;
  CHECK_FALSE(reply.recent.empty());
  CHECK(reply.counters.at("tasks_lent") >= 401 - ran_on[leader]);
  CHECK(reply.counters.at("stolen_results_accepted") >= 401 - ran_on[leader]);
  nodes.clear();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mesh::test
