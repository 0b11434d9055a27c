// Dead letters re-queued on a real meshd: `retry <id>` through the client
// library and `meshctl retry --failed`; the attempt history carries on.
#include <algorithm>

#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

// A task whose first attempt fails and whose budget is one attempt: it
// becomes a dead letter, and succeeds when retried (built-in `fail`: "1"
// fails attempt 1 only).
TaskSpec fails_once(const std::string& id) {
  TaskSpec t = task(id, "fail", "1");
  t.max_attempts = 1;
  return t;
}

bool all_in(MeshClient& client, const std::vector<std::string>& ids, TaskState state) {
  auto got = client.get(ids);
  if (!got.ok() || got.value().records.size() != ids.size()) return false;
  return std::all_of(got.value().records.begin(), got.value().records.end(),
                     [&](const TaskRecord& r) { return r.state == state; });
}

std::string states(MeshClient& client, const std::vector<std::string>& ids) {
  auto got = client.get(ids);
  if (!got.ok()) return got.status().message();
  std::string out;
  for (const auto& r : got.value().records) out += r.spec.id + "=" + state_name(r.state) + " ";
  return out;
}

TEST_CASE("retry re-queues a dead letter with a fresh budget and keeps its attempt history") {
  TestNode node({"--slots", "2"});
  node.start();
  auto client = node.client();
  REQUIRE(client->submit({fails_once("dl-1"), task("ok-1", "noop")}).ok());
  REQUIRE_MESSAGE(wait_until([&] { return all_in(*client, {"dl-1"}, TaskState::kFailed); }),
                  states(*client, {"dl-1"}) << node.log());
  REQUIRE(wait_until([&] { return all_in(*client, {"ok-1"}, TaskState::kCompleted); }));

  auto retried = client->retry({"dl-1", "ok-1", "nobody"}, false);
  REQUIRE_MESSAGE(retried.ok(), retried.status().message());
  const auto& outcomes = retried.value().outcomes;
  REQUIRE(outcomes.size() == 3);
  CHECK(outcomes[0].code == ErrorCode::kOk);
  CHECK(outcomes[1].code == ErrorCode::kConflict);  // not a dead letter
  CHECK(outcomes[1].state == TaskState::kCompleted);
  CHECK(outcomes[2].code == ErrorCode::kNotFound);

  REQUIRE_MESSAGE(wait_until([&] { return all_in(*client, {"dl-1"}, TaskState::kCompleted); }),
                  states(*client, {"dl-1"}) << node.log());
  TaskRecord r = client->get({"dl-1"}).value().records.at(0);
  CHECK(r.attempt == 2);
  REQUIRE(r.attempts.size() == 2);
  CHECK(r.attempts[0].outcome == AttemptOutcome::kFailed);
  CHECK(r.attempts[1].outcome == AttemptOutcome::kSucceeded);
  check_attempt_history(r);
}

TEST_CASE("meshctl retry --failed re-queues every dead letter") {
  TestNode node({"--slots", "2"});
  node.start();
  auto client = node.client();
  std::vector<std::string> ids = {"f-1", "f-2", "f-3"};
  REQUIRE(client->submit({fails_once(ids[0]), fails_once(ids[1]), fails_once(ids[2])}).ok());
  REQUIRE_MESSAGE(wait_until([&] { return all_in(*client, ids, TaskState::kFailed); }), states(*client, ids));

  Exit out = run_command(std::string(MESHCTL_PATH) + " --addr " + node.process().endpoint() + " retry --failed");
  CHECK_MESSAGE(out.code == 0, out.output);
  for (const auto& id : ids) CHECK_MESSAGE(out.output.find(id + "  re-queued") != std::string::npos, out.output);
  REQUIRE_MESSAGE(wait_until([&] { return all_in(*client, ids, TaskState::kCompleted); }), states(*client, ids));

  // Nothing is left to retry; a retry without ids or --failed is a usage error.
  out = run_command(std::string(MESHCTL_PATH) + " --addr " + node.process().endpoint() + " retry --failed");
  CHECK_MESSAGE(out.output.find("no dead letters") != std::string::npos, out.output);
  out = run_command(std::string(MESHCTL_PATH) + " --addr " + node.process().endpoint() + " retry");
  CHECK(out.code == 2);
}

}  // namespace
}  // namespace mesh::test
