// Work stealing between real processes: 400 tasks of 50 ms keyed to one
// partition queue on its leader among four meshd and spread to idle nodes,
// every task completes once, and `meshctl steals` shows steals happened.
// Speed is meshbench's job.
#include <map>
#include <set>

#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

TEST_CASE("four meshd: tasks piled on one node are stolen by the idle ones") {
  const size_t n = 4;
  TempDir temp("meshsteal-");
  REQUIRE(!temp.path().empty());
  auto nodes = start_mesh(n, "s", temp.path(), {"--slots", "2"});
  auto client = nodes[0]->client();
  REQUIRE(wait_until([&] { return alive_members(*client) == n; }));
  // Leadership settles on the ring's preferred replicas, so the partition's
  // leader does not change hands while the test runs.
  REQUIRE(wait_until([&] { return led_as_preferred(nodes); }));

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
  // Some node lent tasks (the partition's leader; a second one only if
  // leadership moved under load), thieves ran some of them, and the task
  // that may not be stolen ran on a lender.
  std::set<std::string> lenders;
  uint64_t lent = 0, stolen = 0, stolen_results_accepted = 0;
  size_t steal_events = 0;
  for (size_t i = 0; i < n; ++i) {
    auto steals = nodes[i]->client()->call(StealsRequest{});
    REQUIRE(steals.ok());
    const auto& reply = std::get<StealsReply>(steals.value());
    lent += reply.counters.at("tasks_lent");
    stolen += reply.counters.at("tasks_stolen");
    stolen_results_accepted += reply.counters.at("stolen_results_accepted");
    steal_events += reply.recent.size();
    // The totals count every steal the node took part in: as victim, all it lent.
    uint64_t lent_in_totals = 0;
    for (const auto& t : reply.totals) lent_in_totals += t.victim == reply.node_id ? t.tasks : 0;
    CHECK(lent_in_totals == reply.counters.at("tasks_lent"));
    if (reply.counters.at("tasks_lent") > 0) lenders.insert(reply.node_id);
  }
  std::string spread;
  for (const auto& [runner, count] : ran_on) spread += runner + "=" + std::to_string(count) + " ";
  MESSAGE("400 tasks of 50 ms ran on: " << spread << "; lent " << lent << ", stolen " << stolen
                                        << ", stolen results accepted " << stolen_results_accepted);
  REQUIRE_FALSE(lenders.empty());
  CHECK(lenders.count(pinned_ran_on) == 1);
  CHECK(stolen > 0);
  CHECK(stolen_results_accepted > 0);
  CHECK(steal_events > 0);
  size_t ran_off_lenders = 0;
  for (const auto& [runner, count] : ran_on) ran_off_lenders += lenders.count(runner) == 0 ? count : 0;
  CHECK(ran_off_lenders > 0);
  nodes.clear();
}

}  // namespace
}  // namespace mesh::test
