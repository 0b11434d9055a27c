// The transaction ops of a partition's table: intents invisible and locked
// until resolved, all or none applied, decisions first-wins.
#include <doctest/doctest.h>

#include "node/core/task_table.h"
#include "protocol/codec.h"

namespace mesh {
namespace {

TaskSpec spec(const std::string& id) {
  TaskSpec s;
  s.id = id;
  s.handler = "noop";
  return s;
}

OpTxnPrepare prepare(const std::string& txn, std::vector<std::string> ids) {
  OpTxnPrepare op{txn, 3, 5, {}, 100};
  for (const auto& id : ids) op.tasks.push_back(spec(id));
  return op;
}

OpTxnPrepare fence(const std::string& txn) {
  OpTxnPrepare op{txn, 3, 5, {}, 100};
  op.fence = true;
  return op;
}

TEST_CASE("task table txn: a staged transaction takes a commit or a recovered decision, never a plain abort") {
  TaskTable table;
  REQUIRE(table.apply(OpTxnDecide{"s1", false, {1, 2}, 10, TxnDecideMode::kStage}).ok());
  REQUIRE(table.decisions().count("s1"));
  CHECK(table.decisions().at("s1").staged);
  CHECK(table.apply(OpTxnDecide{"s1", false, {1, 2}, 11, TxnDecideMode::kStage}).ok());  // a resent stage
  CHECK(table.apply(OpTxnDecide{"s1", false, {1, 3}, 12, TxnDecideMode::kStage}).code() == ErrorCode::kConflict);
  // Every participant may have prepared: an abort is what recovery finds, not what is asked.
  CHECK(table.apply(OpTxnDecide{"s1", false, {1}, 20}).code() == ErrorCode::kConflict);
  CHECK(table.decisions().at("s1").staged);
  REQUIRE(table.apply(OpTxnDecide{"s1", true, {1, 2}, 30}).ok());
  CHECK_FALSE(table.decisions().at("s1").staged);
  CHECK(table.decisions().at("s1").commit);
  CHECK(table.decisions().at("s1").participants == std::vector<uint32_t>{1, 2});
  // Decided: a stage is refused, a later decision changes nothing.
  CHECK(table.apply(OpTxnDecide{"s1", false, {1, 2}, 40, TxnDecideMode::kStage}).code() == ErrorCode::kConflict);
  CHECK(table.apply(OpTxnDecide{"s1", false, {1, 2}, 41, TxnDecideMode::kRecovered}).ok());
  CHECK(table.decisions().at("s1").commit);
  // The recovery's abort applies over a stage.
  REQUIRE(table.apply(OpTxnDecide{"s2", false, {4}, 50, TxnDecideMode::kStage}).ok());
  REQUIRE(table.apply(OpTxnDecide{"s2", false, {4}, 60, TxnDecideMode::kRecovered}).ok());
  CHECK_FALSE(table.decisions().at("s2").staged);
  CHECK_FALSE(table.decisions().at("s2").commit);
  // A stage after a presumed abort is refused.
  REQUIRE(table.apply(OpTxnDecide{"s3", false, {4}, 70}).ok());
  CHECK(table.apply(OpTxnDecide{"s3", false, {4}, 71, TxnDecideMode::kStage}).code() == ErrorCode::kConflict);
}

TEST_CASE("task table txn: a fence refuses the transaction's prepare, outlives its resolve, and goes when forgotten") {
  TaskTable table;
  REQUIRE(table.apply(fence("f1")).ok());
  REQUIRE(table.prepared().count("f1"));
  CHECK(table.prepared().at("f1").fenced);
  CHECK(table.apply(fence("f1")).ok());  // resent
  CHECK(table.apply(prepare("f1", {"a"})).code() == ErrorCode::kAborted);
  CHECK(table.locked_by("a") == nullptr);
  // The recovered abort resolves it; a prepare resent late is still refused.
  REQUIRE(table.apply(OpTxnResolve{"f1", false, 110}).ok());
  CHECK(table.apply(prepare("f1", {"a"})).code() == ErrorCode::kAborted);
  CHECK(table.apply(OpTxnForget{"f1"}).ok());  // a coordinator's forget is not the fence's
  CHECK(table.prepared().count("f1"));
  REQUIRE(table.apply(OpTxnForget{"f1", true}).ok());
  CHECK(table.prepared().empty());
  // Prepared first: the fence is refused, and a forget of a fence leaves the intents.
  REQUIRE(table.apply(prepare("f2", {"b"})).ok());
  CHECK(table.apply(fence("f2")).code() == ErrorCode::kConflict);
  CHECK(table.apply(OpTxnForget{"f2", true}).ok());
  CHECK(*table.locked_by("b") == "f2");
}

TEST_CASE("task table txn: a prepare stages intents reads do not see and locks their ids") {
  TaskTable table;
  REQUIRE(table.apply(prepare("x1", {"a", "b"})).ok());
  CHECK(table.find("a") == nullptr);
  CHECK(table.records().empty());
  CHECK(table.unfinished() == 0);
  REQUIRE(table.locked_by("a") != nullptr);
  CHECK(*table.locked_by("a") == "x1");
  // A plain submit and another transaction cannot take a locked id.
  CHECK(table.apply(OpSubmit{spec("a"), 5, 110}).code() == ErrorCode::kConflict);
  CHECK(table.apply(prepare("x2", {"c", "b"})).code() == ErrorCode::kConflict);
  CHECK(table.locked_by("c") == nullptr);  // the refused prepare staged nothing
  // The same prepare again (a resend) changes nothing.
  CHECK(table.apply(prepare("x1", {"a", "b"})).ok());
  CHECK(table.prepared().size() == 1);
}

TEST_CASE("task table txn: commit stores every intent as a pending task; abort drops them all") {
  TaskTable table;
  REQUIRE(table.apply(prepare("x1", {"a", "b"})).ok());
  REQUIRE(table.apply(prepare("x2", {"c"})).ok());
  std::vector<std::string> created;
  REQUIRE(table.apply(OpTxnResolve{"x1", true, 200}, &created).ok());
  CHECK(created == std::vector<std::string>{"a", "b"});
  REQUIRE(table.find("a") != nullptr);
  CHECK(table.find("a")->state == TaskState::kPending);
  CHECK(table.find("a")->partition == 5);
  CHECK(table.find("a")->submitted_ms == 200);
  CHECK(table.find("a")->txn == "x1");  // the job it belongs to
  CHECK(table.unfinished() == 2);
  REQUIRE(table.apply(OpTxnResolve{"x2", false, 210}).ok());
  CHECK(table.find("c") == nullptr);
  CHECK(table.locked_by("c") == nullptr);
  CHECK(table.prepared().empty());
  // A resolve of what is not prepared (resolved already, or never) changes nothing.
  created.clear();
  CHECK(table.apply(OpTxnResolve{"x1", true, 300}, &created).ok());
  CHECK(created.empty());
  CHECK(table.records().size() == 2);
}

TEST_CASE("task table txn: a prepare naming an existing task or one id twice is refused whole") {
  TaskTable table;
  REQUIRE(table.apply(OpSubmit{spec("old"), 5, 10}).ok());
  CHECK(table.apply(prepare("x1", {"new", "old"})).code() == ErrorCode::kConflict);
  CHECK(table.apply(prepare("x2", {"d", "d"})).code() == ErrorCode::kConflict);
  CHECK(table.prepared().empty());
  CHECK(table.locked_by("new") == nullptr);
}

TEST_CASE("task table txn: the first decision wins; forget drops it") {
  TaskTable table;
  REQUIRE(table.apply(OpTxnDecide{"x1", false, {2}, 50}).ok());
  REQUIRE(table.apply(OpTxnDecide{"x1", true, {1, 2}, 60}).ok());
  REQUIRE(table.decisions().count("x1"));
  CHECK_FALSE(table.decisions().at("x1").commit);
  CHECK(table.decisions().at("x1").participants == std::vector<uint32_t>{2});
  REQUIRE(table.apply(OpTxnForget{"x1"}).ok());
  CHECK(table.decisions().empty());
}

// The table a replica loads from a snapshot of `table`.
TaskTable through_snapshot(const TaskTable& table) {
  std::vector<TaskRecord> records;
  for (const auto& [id, r] : table.records()) records.push_back(r);
  auto decoded = decode_snapshot(encode_snapshot(PartitionSnapshot{records, table.prepared(), table.decisions()}));
  REQUIRE_MESSAGE(decoded.ok(), decoded.status().message());
  TaskTable restored;
  for (auto& r : decoded.value().records) restored.restore(std::move(r));
  restored.restore_transactions(decoded.value().prepared, decoded.value().decisions);
  return restored;
}

TEST_CASE("task table txn: intents and decisions survive a snapshot, locks included") {
  TaskTable table;
  REQUIRE(table.apply(OpSubmit{spec("done"), 5, 10}).ok());
  REQUIRE(table.apply(prepare("x1", {"a", "b"})).ok());
  REQUIRE(table.apply(OpTxnDecide{"x9", true, {1, 4}, 60}).ok());
  TaskTable restored = through_snapshot(table);
  CHECK(restored.prepared() == table.prepared());
  CHECK(restored.decisions() == table.decisions());
  REQUIRE(restored.locked_by("b") != nullptr);
  std::vector<std::string> created;
  REQUIRE(restored.apply(OpTxnResolve{"x1", true, 90}, &created).ok());
  CHECK(created.size() == 2);
  CHECK(restored.records().size() == 3);
}

TEST_CASE("task table txn: a snapshot without transactions keeps format 2's bytes") {
  std::string plain = encode_snapshot(PartitionSnapshot{});
  CHECK(plain == std::string("\x92\x02\x00", 3));
}

// A table holding job "j": a pending task, a leased one, a blocked one, a
// completed one, and a pending task of another job.
TaskTable job_table() {
  TaskTable table;
  OpTxnPrepare job = prepare("j", {"pending", "leased", "blocked", "done"});
  job.tasks[2].after = {ParentRef{"elsewhere", "", false}};
  REQUIRE(table.apply(job).ok());
  REQUIRE(table.apply(prepare("other", {"elsewhere"})).ok());
  REQUIRE(table.apply(OpTxnResolve{"j", true, 20}).ok());
  REQUIRE(table.apply(OpTxnResolve{"other", true, 20}).ok());
  REQUIRE(table.apply(OpLease{"leased", 1, "n2", 30, 1000, 2000}).ok());
  REQUIRE(table.apply(OpLease{"done", 1, "n2", 30, 1000, 2000}).ok());
  REQUIRE(table.apply(OpComplete{"done", 1, "result", 40}).ok());
  return table;
}

OpTxnPrepare prepare_cancel(const std::string& txn, const std::string& job) {
  return OpTxnPrepare{txn, 3, 5, {}, 100, job};
}

TEST_CASE("task table txn: a job cancel holds the job's unfinished tasks; commit cancels them, running ones too") {
  TaskTable table = job_table();
  REQUIRE(table.apply(prepare_cancel("c1", "j")).ok());
  REQUIRE(table.prepared().count("c1"));
  CHECK(table.prepared().at("c1").cancels == std::vector<std::string>{"blocked", "leased", "pending"});
  CHECK(table.locked_by("done") == nullptr);
  CHECK(table.locked_by("elsewhere") == nullptr);
  // Held: no new attempt, no cancel or retry of its own, no other transaction.
  CHECK(table.apply(OpLease{"pending", 1, "n1", 110, 1000, 2000}).code() == ErrorCode::kConflict);
  CHECK(table.apply(OpCancel{"pending", 110}).code() == ErrorCode::kConflict);
  CHECK(table.apply(prepare_cancel("c2", "j")).code() == ErrorCode::kConflict);
  CHECK(table.prepared().count("c2") == 0);
  // A running attempt may still end meanwhile.
  REQUIRE(table.apply(OpRenew{"leased", 1, 3000}).ok());
  std::vector<std::string> touched;
  REQUIRE(table.apply(OpTxnResolve{"c1", true, 200}, &touched).ok());
  CHECK(touched == std::vector<std::string>{"blocked", "leased", "pending"});
  for (const char* id : {"pending", "leased", "blocked"}) {
    CAPTURE(id);
    CHECK(table.find(id)->state == TaskState::kCancelled);
    CHECK(table.find(id)->finished_ms == 200);
    CHECK(table.locked_by(id) == nullptr);
  }
  CHECK(table.find("leased")->attempts.back().outcome == AttemptOutcome::kCancelled);
  CHECK(table.find("done")->state == TaskState::kCompleted);
  CHECK(table.find("elsewhere")->state == TaskState::kPending);
  CHECK(table.count_in(TaskState::kCancelled) == 3);
  CHECK(table.unfinished() == 1);
}

TEST_CASE("task table txn: an aborted job cancel lets its tasks go, unchanged") {
  TaskTable table = job_table();
  REQUIRE(table.apply(prepare_cancel("c1", "j")).ok());
  // The held task that finishes meanwhile stays finished either way.
  REQUIRE(table.apply(OpComplete{"leased", 1, "late", 150}).ok());
  std::vector<std::string> touched;
  REQUIRE(table.apply(OpTxnResolve{"c1", false, 200}, &touched).ok());
  CHECK(touched == std::vector<std::string>{"blocked", "pending"});  // handed back; "leased" reported its own end
  CHECK(table.find("pending")->state == TaskState::kPending);
  CHECK(table.find("blocked")->state == TaskState::kBlocked);
  CHECK(table.find("leased")->state == TaskState::kCompleted);
  CHECK(table.locked_by("pending") == nullptr);
  CHECK(table.apply(OpLease{"pending", 1, "n1", 210, 1000, 2000}).ok());
}

TEST_CASE("task table txn: a prepared job cancel survives a snapshot; one of a job with nothing unfinished holds nothing") {
  TaskTable table = job_table();
  REQUIRE(table.apply(prepare_cancel("c1", "j")).ok());
  TaskTable restored = through_snapshot(table);
  CHECK(restored.prepared() == table.prepared());
  REQUIRE(restored.locked_by("pending") != nullptr);
  REQUIRE(restored.apply(OpTxnResolve{"c1", true, 200}).ok());
  CHECK(restored.count_in(TaskState::kCancelled) == 3);

  REQUIRE(restored.apply(prepare_cancel("c2", "j")).ok());
  CHECK(restored.prepared().at("c2").cancels.empty());
  REQUIRE(restored.apply(prepare_cancel("c3", "no-such-job")).ok());
  CHECK(restored.prepared().at("c3").cancels.empty());
}

}  // namespace
}  // namespace mesh
