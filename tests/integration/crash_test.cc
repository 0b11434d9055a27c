// SIGKILL in the middle of a run, restart on the same data dir: every
// acknowledged task is still there and completes, nothing finished before
// the crash changes, no task has two committed results, and the attempts
// cut short by the crash are numbered and marked lost.
#include <signal.h>

#include <map>
#include <set>

#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

TEST_CASE("SIGKILL mid-run loses no acknowledged task and commits no result twice") {
  TempDir temp("meshcrash-");
  REQUIRE(!temp.path().empty());
  const std::string& dir = temp.path();
  std::set<std::string> acknowledged;
  std::map<std::string, TaskRecord> finished_before_crash;
  // Runs until the gate opens, so one attempt is surely cut short by the kill.
  Gate gate;
  const std::string held = "c-held";
  {
    TestNode node({"--slots", "4"}, dir);
    node.start();
    auto client = node.client();
    // Submit in batches; after 30 acknowledged batches, send one more and
    // kill the node without waiting for its answer.
    for (int batch = 0; batch < 31; ++batch) {
      std::vector<TaskSpec> tasks;
      if (batch == 0) tasks.push_back(gate.task(held));
      for (int i = 0; i < 50; ++i) {
        std::string id = "c-" + std::to_string(batch) + "-" + std::to_string(i);
        tasks.push_back(task(id, i % 2 ? "sleep" : "hash", i % 2 ? "3" : "200:" + id));
      }
      if (batch == 30) {
        REQUIRE(client->send(SubmitRequest{tasks}).ok());
        break;
      }
      auto reply = client->submit(tasks);
      REQUIRE_MESSAGE(reply.ok(), reply.status().message());
      for (const auto& o : reply.value().outcomes) {
        REQUIRE(o.code == ErrorCode::kOk);
        acknowledged.insert(o.id);
      }
    }
    REQUIRE(wait_until([&] { return gauge(*client, "tasks_completed") >= 100 && gate.started(held); }));
    ListRequest done;
    done.any_state = false;
    done.state = TaskState::kCompleted;
    done.limit = 100000;
    auto listed = client->list(done);
    REQUIRE(listed.ok());
    for (const auto& r : listed.value().records) finished_before_crash[r.spec.id] = r;

    auto held_record = client->get({held});
    REQUIRE(held_record.ok());
    REQUIRE(held_record.value().records.size() == 1);
    REQUIRE(held_record.value().records[0].state == TaskState::kLeased);

    node.process().signal(SIGKILL);
    REQUIRE(node.process().wait_exit(kDeadlineMs) == 128 + SIGKILL);

    TestNode restarted({"--slots", "4"}, dir);
    restarted.start();
    gate.open();
    auto again = restarted.client();
    std::vector<std::string> ids(acknowledged.begin(), acknowledged.end());
    auto result = again->wait(WaitRequest{ids, false, 600000});
    REQUIRE_MESSAGE(result.ok(), result.status().message());
    REQUIRE_MESSAGE(!result.value().timed_out, restarted.log());
    CHECK(result.value().missing.empty());
    REQUIRE(result.value().records.size() == acknowledged.size());

    size_t lost_attempts = 0;
    for (const auto& r : result.value().records) {
      INFO("task " << r.spec.id);
      CHECK(r.state == TaskState::kCompleted);
      check_attempt_history(r);
      for (const auto& a : r.attempts) lost_attempts += a.outcome == AttemptOutcome::kLost;
      if (r.spec.id == held) {
        REQUIRE(r.attempts.size() >= 2);
        CHECK(r.attempts.front().outcome == AttemptOutcome::kLost);
      }
      auto before = finished_before_crash.find(r.spec.id);
      if (before != finished_before_crash.end()) {
        // A committed result is final: the restart did not run it again.
        CHECK(r.result == before->second.result);
        CHECK(r.attempt == before->second.attempt);
        CHECK(r.finished_ms == before->second.finished_ms);
      }
    }
    // The attempts running at the kill (the held one at least) were leased in
    // the log: the restarted leader releases them at once (lost) and runs them
    // again.
    CHECK(lost_attempts >= 1);
    auto stats = again->stats();
    REQUIRE(stats.ok());
    CHECK(stats.value().counters["leases_expired"] == lost_attempts);
  }
}

}  // namespace
}  // namespace mesh::test
