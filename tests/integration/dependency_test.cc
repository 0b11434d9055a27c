// Task dependencies on real processes: a diamond of tasks spread over
// partitions runs in order with its parents' results; a failed parent fails
// its descendants; bad dependency graphs are refused whole.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

#include "node/core/partitioning.h"
#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

TaskSpec after(TaskSpec t, std::vector<std::string> parents) {
  for (auto& p : parents) t.after.push_back(ParentRef{std::move(p), ""});
  return t;
}

// The final records of `ids`, once all are final; fails with what it saw.
std::map<std::string, TaskRecord> wait_final(MeshClient& client, const std::vector<std::string>& ids) {
  WaitRequest q;
  q.ids = ids;
  q.timeout_ms = kDeadlineMs;
  auto reply = client.wait(q);
  REQUIRE_MESSAGE(reply.ok(), reply.status().message());
  REQUIRE_FALSE(reply.value().timed_out);
  std::map<std::string, TaskRecord> out;
  for (auto& r : reply.value().records) out[r.spec.id] = r;
  REQUIRE(out.size() == ids.size());
  return out;
}

TEST_CASE("dependencies: a diamond over several partitions runs in order with its parents' results") {
  TempDir temp("meshdeps-");
  REQUIRE(!temp.path().empty());
  auto nodes = start_mesh(3, "d", temp.path(), {});
  REQUIRE(wait_until([&] { return led_as_preferred(nodes); }));
  auto client = nodes[1]->client(30000);
  std::vector<TaskSpec> job = {
      task("dia-a", "join", "A"),
      task("dia-b", "join", "B"),
      after(task("dia-c", "join", "C:"), {"dia-a", "dia-b"}),
      after(task("dia-d", "join", "D:"), {"dia-c"}),
  };
  std::set<uint32_t> partitions;
  for (const auto& t : job) partitions.insert(partition_of(t.id, kDefaultPartitions));
  CHECK(partitions.size() >= 3);
  auto reply = client->submit(job);  // not marked atomic: naming parents makes it so
  REQUIRE_MESSAGE(reply.ok(), reply.status().message());
  REQUIRE_FALSE(reply.value().txn.empty());
  for (const auto& o : reply.value().outcomes) REQUIRE_MESSAGE(o.code == ErrorCode::kOk, o.id << ": " << o.message);

  auto done = wait_final(*client, {"dia-a", "dia-b", "dia-c", "dia-d"});
  CHECK(done["dia-c"].state == TaskState::kCompleted);
  CHECK(done["dia-c"].result == "C:AB");  // its parents' results, in `after` order
  CHECK(done["dia-d"].result == "D:C:AB");
  // Ran once to success (an attempt lost with a leader change would be retried, not doubled).
  CHECK(std::count_if(done["dia-d"].attempts.begin(), done["dia-d"].attempts.end(),
                      [](const AttemptInfo& x) { return x.outcome == AttemptOutcome::kSucceeded; }) == 1);

  // A child submitted later, of a parent finished long ago, runs too.
  auto late = client->submit({after(task("dia-e", "join", "E:"), {"dia-d"})});
  REQUIRE(late.ok());
  REQUIRE(late.value().outcomes.at(0).code == ErrorCode::kOk);
  CHECK(wait_final(*client, {"dia-e"})["dia-e"].result == "E:D:C:AB");

  // The mesh's counters, summed by meshctl: every hand-off was proposed once by some leader.
  Exit text = run_command(std::string(MESHCTL_PATH) + " --addr " + nodes[0]->process().endpoint() + " stats --mesh");
  REQUIRE(text.code == 0);
  CHECK(text.output.find("mesh: 3 nodes answered") != std::string::npos);
  Exit json = run_command(std::string(MESHCTL_PATH) + " --addr " + nodes[0]->process().endpoint() + " --json stats --mesh");
  REQUIRE(json.code == 0);
  auto mesh = nlohmann::json::parse(json.output);
  CHECK(mesh["nodes"].size() == 3);
  // An entry per hand-off, but C's two parents may share one when both end
  // before its leader proposes (the counter counts entries): at least 3,
  // more only after a leader change.
  CHECK(mesh["counters"].value("dependency_outcomes_proposed", 0) >= 3);
  CHECK_MESSAGE(mesh["counters"].value("tasks_completed", 0) >= 5, json.output);
}

TEST_CASE("dependencies: a failed parent fails its descendants upstream_failed; bad graphs are refused whole") {
  TempDir temp("meshdeps-");
  REQUIRE(!temp.path().empty());
  auto nodes = start_mesh(3, "f", temp.path(), {});
  REQUIRE(wait_until([&] { return led_as_preferred(nodes); }));
  auto client = nodes[0]->client(30000);
  TaskSpec doomed = task("up-f", "fail", "5");
  doomed.max_attempts = 2;
  auto reply = client->submit({doomed, after(task("up-g", "join"), {"up-f"}), after(task("up-h", "join"), {"up-g"})});
  REQUIRE(reply.ok());
  auto done = wait_final(*client, {"up-f", "up-g", "up-h"});
  CHECK(done["up-f"].state == TaskState::kFailed);
  CHECK(done["up-g"].state == TaskState::kFailed);
  CHECK(done["up-g"].error.rfind("upstream_failed: parent up-f: FAILED", 0) == 0);
  CHECK(done["up-g"].attempts.empty());
  CHECK(done["up-h"].error.rfind("upstream_failed: parent up-g", 0) == 0);

  auto refused = [&](std::vector<TaskSpec> tasks) {
    std::vector<std::string> ids;
    for (const auto& t : tasks) ids.push_back(t.id);
    auto r = client->submit(std::move(tasks));
    CHECK_FALSE(r.ok());
    auto get = client->get(ids);
    REQUIRE(get.ok());
    CHECK(get.value().records.empty());  // nothing of it stored
    return r.ok() ? std::string() : r.status().message();
  };
  CHECK(refused({after(task("cy-a", "join"), {"cy-b"}), after(task("cy-b", "join"), {"cy-a"}), task("cy-c", "join")})
            .find("dependency cycle") != std::string::npos);
  CHECK(refused({task("un-a", "join"), after(task("un-b", "join"), {"no-such-task"})}).find("unknown parent no-such-task") !=
        std::string::npos);
  CHECK(refused({after(task("self-a", "join"), {"self-a"})}).find("itself") != std::string::npos);
}

}  // namespace
}  // namespace mesh::test

namespace mesh::test {
namespace {

TEST_CASE("meshctl wait --progress says how far a long wait is, on stderr") {
  TestNode node;
  node.start();
  auto client = node.client();
  TaskSpec slow = task("progress-slow", "sleep", "7000");
  TaskSpec slower = task("progress-slower", "sleep", "20000");
  auto reply = client->submit({task("progress-quick", "noop"), slow, slower});
  REQUIRE(reply.ok());
  Exit waited = run_command(std::string(MESHCTL_PATH) + " --addr " + node.process().endpoint() +
                            " --progress wait progress-quick progress-slow progress-slower");
  CHECK_MESSAGE(waited.code == 0, waited.output);
  // A line every 5 s off a terminal; once a task finished after the first,
  // the pace since then (the 7 s task ends before the lines at 10 or 15 s,
  // the 20 s one after them).
  CHECK_MESSAGE(waited.output.find("waiting: 1 of 3 finished (COMPLETED 1, LEASED 2)") != std::string::npos, waited.output);
  CHECK_MESSAGE(waited.output.find("waiting: 2 of 3 finished (COMPLETED 2, LEASED 1), ") != std::string::npos,
                waited.output);
  CHECK_MESSAGE(waited.output.find("/s, ETA ") != std::string::npos, waited.output);
  CHECK(waited.output.find("done: COMPLETED=3") != std::string::npos);
}

}  // namespace
}  // namespace mesh::test
