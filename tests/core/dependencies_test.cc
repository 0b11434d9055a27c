// Dependencies in a partition's table (BLOCKED until every parent is done,
// OpParentsDone idempotent) and the origin's checks of a dependent submit.
#include <doctest/doctest.h>

#include "node/core/dependencies.h"
#include "node/core/partitioning.h"
#include "node/core/task_table.h"
#include "protocol/codec.h"
#include "protocol/limits.h"

namespace mesh {
namespace {

TaskSpec spec(const std::string& id, std::vector<std::string> parents = {}) {
  TaskSpec s;
  s.id = id;
  s.handler = "join";
  for (auto& p : parents) s.after.push_back(ParentRef{std::move(p), ""});
  return s;
}

OpParentsDone done(const std::string& child, const std::string& parent, bool completed, std::string text,
                   uint64_t at_ms = 500) {
  return OpParentsDone{{ParentOutcome{child, parent, completed, std::move(text)}}, at_ms};
}

TEST_CASE("dependencies: a task naming parents is BLOCKED until every parent completed, then PENDING with their results") {
  TaskTable table;
  REQUIRE(table.apply(OpSubmit{spec("c", {"p1", "p2"}), 4, 100}).ok());
  REQUIRE(table.apply(OpSubmit{spec("plain"), 4, 100}).ok());
  CHECK(table.find("c")->state == TaskState::kBlocked);
  CHECK(table.find("plain")->state == TaskState::kPending);
  CHECK(table.count_in(TaskState::kBlocked) == 1);
  CHECK(table.unfinished() == 2);

  std::vector<std::string> touched;
  REQUIRE(table.apply(done("c", "p2", true, "two"), &touched).ok());
  CHECK(touched == std::vector<std::string>{"c"});
  CHECK(table.find("c")->state == TaskState::kBlocked);
  // Resent, or for a parent the task does not name: nothing changes.
  touched.clear();
  REQUIRE(table.apply(done("c", "p2", true, "other"), &touched).ok());
  REQUIRE(table.apply(done("c", "stranger", true, "x"), &touched).ok());
  REQUIRE(table.apply(done("nobody", "p1", true, "x"), &touched).ok());
  CHECK(touched.empty());
  CHECK(table.find("c")->inputs.at("p2") == "two");

  REQUIRE(table.apply(done("c", "p1", true, "one", 700)).ok());
  const TaskRecord& c = *table.find("c");
  CHECK(c.state == TaskState::kPending);
  CHECK(c.not_before_ms == 700);
  CHECK(inputs_in_order(c) == std::vector<std::string>{"one", "two"});  // in `after` order
  CHECK(table.count_in(TaskState::kBlocked) == 0);
  // Once runnable, a late outcome changes nothing: the hand-off fired once.
  REQUIRE(table.apply(done("c", "p1", false, "FAILED: late")).ok());
  CHECK(table.find("c")->state == TaskState::kPending);
}

TEST_CASE("dependencies: a parent that failed fails the task upstream_failed; retrying it is refused") {
  TaskTable table;
  REQUIRE(table.apply(OpSubmit{spec("c", {"p1", "p2"}), 4, 100}).ok());
  REQUIRE(table.apply(done("c", "p1", true, "one")).ok());
  REQUIRE(table.apply(done("c", "p2", false, "FAILED: boom", 900)).ok());
  const TaskRecord& c = *table.find("c");
  CHECK(c.state == TaskState::kFailed);
  CHECK(c.finished_ms == 900);
  CHECK(c.error == "upstream_failed: parent p2: FAILED: boom");
  CHECK(c.attempts.empty());  // it never ran
  CHECK(table.unfinished() == 0);
  CHECK(table.apply(OpRetry{"c", 1000}).code() == ErrorCode::kConflict);
  // Its record leaves with retention like any dead letter.
  CHECK(table.purge(OpPurge{0, 901, 10}) == std::vector<std::string>{"c"});
}

TEST_CASE("dependencies: a BLOCKED task can be cancelled; inputs past the limit fail it") {
  TaskTable table;
  REQUIRE(table.apply(OpSubmit{spec("c", {"p1"}), 4, 100}).ok());
  REQUIRE(table.apply(OpCancel{"c", 200}).ok());
  CHECK(table.find("c")->state == TaskState::kCancelled);
  REQUIRE(table.apply(done("c", "p1", true, "late")).ok());
  CHECK(table.find("c")->state == TaskState::kCancelled);

  REQUIRE(table.apply(OpSubmit{spec("big", {"p1", "p2"}), 4, 100}).ok());
  REQUIRE(table.apply(done("big", "p1", true, std::string(limits::kMaxInputBytes, 'a'))).ok());
  REQUIRE(table.apply(done("big", "p2", true, "b")).ok());
  CHECK(table.find("big")->state == TaskState::kFailed);
  CHECK(table.find("big")->error.rfind("inputs_too_large", 0) == 0);
}

TEST_CASE("dependencies: OpParentsDone and a record's inputs survive the codec") {
  OpParentsDone op{{ParentOutcome{"c", "p1", true, std::string("a\0b", 3)}, ParentOutcome{"d", "p2", false, "FAILED: x"}},
                   1234};
  auto decoded = decode_op(encode_op(op));
  REQUIRE(decoded.ok());
  CHECK(std::get<OpParentsDone>(decoded.value()) == op);

  TaskTable table;
  REQUIRE(table.apply(OpSubmit{spec("c", {"p1", "p2"}), 4, 100}).ok());
  REQUIRE(table.apply(done("c", "p1", true, "one")).ok());
  auto record = decode_record(encode_record(*table.find("c")));
  REQUIRE(record.ok());
  CHECK(record.value() == *table.find("c"));
}

TEST_CASE("dependencies: the origin refuses cycles, self-waits, repeated parents, repeated ids and bad shards") {
  auto check = [](std::vector<TaskSpec> tasks) { return check_dependency_batch(tasks); };
  CHECK(check({spec("a"), spec("b", {"a"}), spec("c", {"a", "b"})}).ok());
  CHECK(check({spec("a", {"outside"})}).ok());  // parents outside the submit are checked against the mesh
  Status cycle = check({spec("a", {"c"}), spec("b", {"a"}), spec("c", {"b"}), spec("d")});
  CHECK(cycle.code() == ErrorCode::kInvalidArgument);
  CHECK(cycle.message().find("cycle") != std::string::npos);
  CHECK(check({spec("a", {"a"})}).message().find("itself") != std::string::npos);
  CHECK(check({spec("p"), spec("a", {"p", "p"})}).message().find("twice") != std::string::npos);
  CHECK(check({spec("a"), spec("a")}).message().find("twice") != std::string::npos);
  TaskSpec sharded = spec("r", {"p"});
  sharded.shard_index = 2;
  sharded.shard_count = 2;
  CHECK(check({spec("p"), sharded}).code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("dependencies: parents inside the submit are named under their own key") {
  TaskSpec parent = spec("p");
  parent.key = "k";
  std::vector<TaskSpec> tasks{parent, spec("c", {"p"})};
  REQUIRE(check_dependency_batch(tasks).ok());
  CHECK(tasks[1].after[0].key == "k");  // filled in: the child's leader asks the parent's partition

  std::vector<TaskSpec> wrong{parent, spec("c")};
  wrong[1].after = {ParentRef{"p", "other-key"}};
  CHECK(check_dependency_batch(wrong).code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("dependencies: shards split lines by the key before the first tab, and together are the whole") {
  std::string text = "apple\t1\nbanana\t2\napple\t3\ncherry\nbanana\t4";
  std::string a = shard_of(text, 0, 2), b = shard_of(text, 1, 2);
  CHECK(a.size() + b.size() == text.size() + 1);  // each line ends with a newline
  // Lines of one key land in one shard.
  uint32_t apple = partition_of("apple", 2);
  std::string apples = apple == 0 ? a : b;
  CHECK(apples.find("apple\t1\n") != std::string::npos);
  CHECK(apples.find("apple\t3\n") != std::string::npos);
  CHECK(shard_of(text, 0, 1) == text + "\n");
  CHECK(shard_of("", 0, 3).empty());
}

}  // namespace
}  // namespace mesh
