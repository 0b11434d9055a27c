// Work stealing between real processes: 400 tasks of 50 ms submitted to one
// of four meshd spread to the idle three, every task completes once, and the
// victim's `meshctl steals` shows who took what. Speed is meshbench's job.
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
  auto victim = nodes[0]->client();
  REQUIRE(wait_until([&] {
    auto reply = victim->call(MembersRequest{});
    if (!reply.ok()) return false;
    size_t alive = 0;
    for (const auto& m : std::get<MembersReply>(reply.value()).members) alive += m.state == MemberState::kAlive;
    return alive == n;
  }));

  std::vector<TaskSpec> tasks;
  std::vector<std::string> ids;
  for (int i = 0; i < 400; ++i) {
    ids.push_back("pile-" + std::to_string(i));
    tasks.push_back(task(ids.back(), "sleep", "50"));
  }
  TaskSpec pinned = task("pinned", "sleep", "50");
  pinned.stealable = false;
  tasks.push_back(pinned);
  ids.push_back("pinned");
  auto submitted = victim->submit(tasks);
  REQUIRE(submitted.ok());
  auto done = victim->wait(WaitRequest{ids, false, 600000});
  REQUIRE(done.ok());
  REQUIRE_FALSE(done.value().timed_out);

  std::map<std::string, size_t> ran_on;
  for (const auto& r : done.value().records) {
    INFO("task " << r.spec.id);
    CHECK(r.state == TaskState::kCompleted);
    check_attempt_history(r);
    ++ran_on[r.attempts.back().runner];
    if (r.spec.id == "pinned") CHECK(r.attempts.back().runner == "s0");
  }
  std::string spread;
  for (const auto& [runner, count] : ran_on) spread += runner + "=" + std::to_string(count) + " ";
  MESSAGE("400 tasks of 50 ms submitted to s0 ran on: " << spread);
  CHECK(ran_on.size() == n);  // every idle node took some

  auto steals = victim->call(StealsRequest{});
  REQUIRE(steals.ok());
  const auto& reply = std::get<StealsReply>(steals.value());
  CHECK_FALSE(reply.recent.empty());
  CHECK(reply.counters.at("tasks_lent") >= 400 - ran_on["s0"]);
  CHECK(reply.counters.at("stolen_results_accepted") >= 400 - ran_on["s0"]);
  nodes.clear();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mesh::test
