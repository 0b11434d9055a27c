// 10,000 tasks of mixed handlers through a real meshd: each must reach the
// right terminal state with the right result; retries show backoff, spent
// retries become dead letters, and exec timeouts kill the whole process group.
#include <fstream>
#include <map>

#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

struct Expectation {
  TaskState state;
  std::string result;  // empty: not checked exactly
};

TEST_CASE("10,000 mixed tasks reach the right terminal state with the right result") {
  TestNode node({"--slots", "8"});
  node.start();
  auto client = node.client();

  std::vector<TaskSpec> tasks;
  std::map<std::string, Expectation> expected;
  auto add = [&](TaskSpec t, Expectation e) {
    expected[t.id] = std::move(e);
    tasks.push_back(std::move(t));
  };
  for (int i = 0; i < 4000; ++i) {
    add(task("noop-" + std::to_string(i), "noop", "n" + std::to_string(i)), {TaskState::kCompleted, "n" + std::to_string(i)});
  }
  for (int i = 0; i < 3000; ++i) {
    add(task("hash-" + std::to_string(i), "hash", "20:data" + std::to_string(i % 1500)), {TaskState::kCompleted, ""});
  }
  for (int i = 0; i < 1000; ++i) {
    TaskSpec t = task("retry-" + std::to_string(i), "fail", "1");
    t.max_attempts = 3;
    t.backoff_base_ms = 20;
    add(t, {TaskState::kCompleted, "succeeded on attempt 2"});
  }
  for (int i = 0; i < 500; ++i) {
    TaskSpec t = task("dead-" + std::to_string(i), "fail", "5");
    t.max_attempts = 2;
    t.backoff_base_ms = 1;
    add(t, {TaskState::kFailed, ""});
  }
  for (int i = 0; i < 1000; ++i) {
    add(task("sleep-" + std::to_string(i), "sleep", "1"), {TaskState::kCompleted, "slept 1 ms"});
  }
  for (int i = 0; i < 500; ++i) {
    std::string word = "x" + std::to_string(i);
    add(task("exec-" + std::to_string(i), "exec",
             R"({"argv":[")" + program_path("cat") + R"("],"stdin":")" + word + "\"}"),
        {TaskState::kCompleted, word});
  }
  REQUIRE(tasks.size() == 10000);

  std::vector<std::string> ids;
  for (size_t i = 0; i < tasks.size(); i += 500) {
    std::vector<TaskSpec> part(tasks.begin() + static_cast<long>(i), tasks.begin() + static_cast<long>(i + 500));
    auto reply = client->submit(part);
    REQUIRE_MESSAGE(reply.ok(), reply.status().message());
    for (const auto& o : reply.value().outcomes) {
      REQUIRE_MESSAGE(o.code == ErrorCode::kOk, o.id << ": " << o.message);
      ids.push_back(o.id);
    }
  }

  auto done = client->wait(WaitRequest{ids, false, 600000});
  REQUIRE_MESSAGE(done.ok(), done.status().message());
  REQUIRE_MESSAGE(!done.value().timed_out, "unfinished: " << done.value().unfinished << "\n" << node.log());
  REQUIRE(done.value().records.size() == 10000);

  std::map<std::string, std::string> hash_of_payload;
  for (const auto& r : done.value().records) {
    const Expectation& e = expected.at(r.spec.id);
    INFO("task " << r.spec.id << " error " << r.error);
    CHECK(r.state == e.state);
    if (!e.result.empty()) CHECK(r.result == e.result);
    check_attempt_history(r);
    if (r.spec.handler == "hash") {
      CHECK(r.result.size() == 16);
      // Same payload, same digest.
      auto [it, fresh] = hash_of_payload.emplace(r.spec.payload, r.result);
      if (!fresh) CHECK(it->second == r.result);
    }
    if (r.spec.id.rfind("retry-", 0) == 0) {
      REQUIRE(r.attempts.size() == 2);
      CHECK(r.attempts[0].outcome == AttemptOutcome::kFailed);
      // Backoff: the retry starts no earlier than half the base delay.
      CHECK(r.attempts[1].started_ms >= r.attempts[0].ended_ms + 10);
    }
    if (r.spec.id.rfind("dead-", 0) == 0) {
      CHECK(r.attempts.size() == 2);
      CHECK(r.failures == 2);
      CHECK(r.error.find("planned failure") != std::string::npos);
    }
  }
  CHECK(hash_of_payload.size() == 1500);

  // Dead letters stay listable.
  ListRequest dead;
  dead.any_state = false;
  dead.state = TaskState::kFailed;
  dead.limit = 1000;
  auto listed = client->list(dead);
  REQUIRE(listed.ok());
  CHECK(listed.value().records.size() == 500);
}

TEST_CASE("an exec attempt that times out has its whole process group killed") {
  TestNode node({"--slots", "2"});
  node.start();
  auto client = node.client();
  std::string pid_file = node.dir() + "/grandchild.pid";
  TaskSpec t = task("slow-exec", "exec",
                    R"({"argv":[")" + program_path("sh") + R"(","-c","sleep 60 & echo $! > )" + pid_file +
                        R"(; wait"]})");
  t.timeout_ms = 500;
  t.max_attempts = 1;
  auto submitted = client->submit({t});
  REQUIRE(submitted.ok());
  REQUIRE(submitted.value().outcomes[0].code == ErrorCode::kOk);

  auto done = client->wait(WaitRequest{{"slow-exec"}, false, 60000});
  REQUIRE(done.ok());
  REQUIRE_FALSE(done.value().timed_out);
  const TaskRecord& r = done.value().records.at(0);
  CHECK(r.state == TaskState::kFailed);
  REQUIRE(r.attempts.size() == 1);
  CHECK(r.attempts[0].outcome == AttemptOutcome::kTimedOut);

  pid_t grandchild = 0;
  REQUIRE(wait_until([&] {
    std::ifstream in(pid_file);
    return static_cast<bool>(in >> grandchild);
  }));
  bool gone = wait_until([&] { return process_gone(grandchild); }, 30000);
  CHECK_MESSAGE(gone, "grandchild " << grandchild << " survived the timeout");
}

}  // namespace
}  // namespace mesh::test
