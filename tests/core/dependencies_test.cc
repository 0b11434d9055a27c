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

// The component alone: a node that leads partition 4 with `table`.
class FakeHost final : public ComponentHost {
 public:
  TaskTable table;
  uint64_t now = 1000;
  std::vector<std::pair<uint64_t, Request>> asks;
  std::vector<OpParentsDone> proposals;

  uint64_t now_ms() const override { return now; }
  const std::string& address() const override { return address_; }
  uint32_t partitions() const override { return 8; }
  const TaskTable* led_table(uint32_t partition) const override { return partition == 4 ? &table : nullptr; }
  bool propose(uint32_t, const TaskOp& op) override {
    proposals.push_back(std::get<OpParentsDone>(op));
    return true;
  }
  std::vector<std::string> candidates(uint32_t) const override { return {}; }
  std::string leader_address(uint32_t) const override { return {}; }
  void send(const std::string&, PeerMessage) override {}
  Status admit(const TaskSpec&) const override { return Status::Ok(); }
  void answer_client(RequestRef, Reply) override {}
  void ask(AskRef ref, Request query, uint64_t) override { asks.emplace_back(ref.handle, std::move(query)); }
  void submit_atomic(RequestRef, std::string, std::vector<TaskSpec>) override {}
  void count(const std::string&) override {}
  void record_in_doubt(uint64_t) override {}
  void event(std::string, std::string, std::string) override {}

 private:
  std::string address_ = "tcp://fake";
};

WaitReply final_parent(const std::string& id, const std::string& result) {
  TaskRecord r;
  r.spec.id = id;
  r.state = TaskState::kCompleted;
  r.result = result;
  return WaitReply{false, {r}, {}, 0};
}

TEST_CASE("dependencies: a leader proposes each parent's outcome once, whatever applies in between") {
  FakeHost host;
  Dependencies deps({}, host);
  REQUIRE(host.table.apply(OpSubmit{spec("c", {"p1", "p2"}), 4, 100}).ok());
  deps.on_record(4, *host.table.find("c"));
  deps.tick();
  REQUIRE(host.asks.size() == 2);  // one long-poll per parent
  deps.on_answer(host.asks[0].first, final_parent("p1", "one"));
  deps.tick();
  REQUIRE(host.proposals.size() == 1);
  deps.on_answer(host.asks[1].first, final_parent("p2", "two"));
  deps.tick();
  REQUIRE(host.proposals.size() == 2);
  // p1's outcome applies while p2's is still on its way: p2's is not proposed again.
  REQUIRE(host.table.apply(host.proposals[0]).ok());
  deps.on_record(4, *host.table.find("c"));
  deps.tick();
  CHECK(host.proposals.size() == 2);
  REQUIRE(host.table.apply(host.proposals[1]).ok());
  deps.on_record(4, *host.table.find("c"));
  CHECK(host.table.find("c")->state == TaskState::kPending);
  CHECK(deps.watched_children() == 0);
  CHECK_FALSE(deps.next_wake().has_value());
  // A new leader starts from the table: nothing left to watch.
  deps.on_lead_end(4);
  deps.tick();
  CHECK(host.asks.size() == 2);
}

TEST_CASE("dependencies: a parent missing from the mesh fails its child, unless it is of the child's own job") {
  FakeHost host;
  Dependencies deps({}, host);
  TaskSpec child = spec("c", {"gone", "sibling"});
  child.after[1].in_job = true;
  REQUIRE(host.table.apply(OpSubmit{child, 4, 100}).ok());
  deps.on_record(4, *host.table.find("c"));
  deps.tick();
  REQUIRE(host.asks.size() == 2);
  for (const auto& [handle, query] : host.asks) {
    deps.on_answer(handle, WaitReply{false, {}, {std::get<WaitRequest>(query).ids[0]}, 0});
  }
  deps.tick();
  REQUIRE(host.proposals.size() == 1);
  REQUIRE(host.proposals[0].outcomes.size() == 1);
  CHECK(host.proposals[0].outcomes[0].parent == "gone");
  CHECK_FALSE(host.proposals[0].outcomes[0].completed);
  // The sibling is asked about again after a pause: its resolve is on the way.
  host.now += DependencyConfig{}.retry_ms;
  deps.tick();
  CHECK(host.asks.size() == 3);
}

}  // namespace
}  // namespace mesh
