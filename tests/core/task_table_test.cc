#include "node/core/task_table.h"

#include <doctest/doctest.h>

#include <array>
#include <map>
#include <string>

#include "protocol/limits.h"

namespace mesh {
namespace {

TaskSpec make_spec(const std::string& id, uint32_t max_attempts = 3) {
  TaskSpec spec;
  spec.id = id;
  spec.handler = "echo";
  spec.payload = "payload-" + id;
  spec.max_attempts = max_attempts;
  return spec;
}

OpSubmit submit(const std::string& id, uint32_t max_attempts = 3, uint64_t at_ms = 100) {
  return OpSubmit{make_spec(id, max_attempts), 7, at_ms};
}

OpLease lease(const std::string& id, uint32_t attempt, uint64_t at_ms = 200) {
  return OpLease{id, attempt, "node-a", at_ms, at_ms + 10000, at_ms + 60000};
}

OpFail fail(const std::string& id, uint32_t attempt, uint64_t at_ms = 300,
            AttemptOutcome outcome = AttemptOutcome::kFailed) {
  return OpFail{id, attempt, outcome, "boom", at_ms, at_ms + 50};
}

void must(TaskTable& table, const TaskOp& op) {
  Status s = table.apply(op);
  REQUIRE_MESSAGE(s.ok(), s.message());
}

using Counts = std::array<size_t, kTaskStateCount>;

Counts counts(const TaskTable& table) {
  Counts c{};
  for (uint8_t i = 0; i < kTaskStateCount; ++i) c[i] = table.count_in(static_cast<TaskState>(i));
  return c;
}

// Applies an op that must be rejected with `code` and checks that it left
// the table exactly as it was.
void expect_rejected(TaskTable& table, const TaskOp& op, ErrorCode code) {
  std::map<std::string, TaskRecord> before = table.records();
  Counts counts_before = counts(table);
  size_t unfinished_before = table.unfinished();
  Status s = table.apply(op);
  CHECK(s.code() == code);
  CHECK_FALSE(s.message().empty());
  CHECK(table.records() == before);
  CHECK(counts(table) == counts_before);
  CHECK(table.unfinished() == unfinished_before);
}

const TaskRecord& rec(const TaskTable& table, const std::string& id) {
  const TaskRecord* r = table.find(id);
  REQUIRE(r != nullptr);
  return *r;
}

// --- accepted transitions ----------------------------------------------------

TEST_CASE("task table: submit creates a PENDING record") {
  TaskTable table;
  must(table, submit("a", 3, 100));
  const TaskRecord& r = rec(table, "a");
  CHECK(r.spec == make_spec("a", 3));
  CHECK(r.partition == 7);
  CHECK(r.state == TaskState::kPending);
  CHECK(r.attempt == 0);
  CHECK(r.failures == 0);
  CHECK(r.submitted_ms == 100);
  CHECK(r.not_before_ms == 100);
  CHECK(r.finished_ms == 0);
  CHECK(r.lease_owner.empty());
  CHECK(r.attempts.empty());
  CHECK(table.count_in(TaskState::kPending) == 1);
  CHECK(table.unfinished() == 1);
}

TEST_CASE("task table: lease PENDING -> LEASED starts attempt 1") {
  TaskTable table;
  must(table, submit("a"));
  must(table, lease("a", 1, 200));
  const TaskRecord& r = rec(table, "a");
  CHECK(r.state == TaskState::kLeased);
  CHECK(r.attempt == 1);
  CHECK(r.lease_owner == "node-a");
  CHECK(r.lease_deadline_ms == 10200);
  CHECK(r.timeout_at_ms == 60200);
  REQUIRE(r.attempts.size() == 1);
  CHECK(r.attempts[0] == AttemptInfo{1, "node-a", 200, 0, AttemptOutcome::kRunning, ""});
  CHECK(table.count_in(TaskState::kPending) == 0);
  CHECK(table.count_in(TaskState::kLeased) == 1);
  CHECK(table.unfinished() == 1);
}

TEST_CASE("task table: renew LEASED -> LEASED extends, never shortens") {
  TaskTable table;
  must(table, submit("a"));
  must(table, lease("a", 1, 200));  // deadline 10200
  must(table, OpRenew{"a", 1, 15000});
  CHECK(rec(table, "a").lease_deadline_ms == 15000);
  // An older renewal arriving late is accepted but changes nothing.
  must(table, OpRenew{"a", 1, 12000});
  CHECK(rec(table, "a").lease_deadline_ms == 15000);
  CHECK(rec(table, "a").state == TaskState::kLeased);
  CHECK(rec(table, "a").attempts.size() == 1);
}

TEST_CASE("task table: complete LEASED -> COMPLETED") {
  TaskTable table;
  must(table, submit("a"));
  must(table, lease("a", 1, 200));
  must(table, OpComplete{"a", 1, "out", 250});
  const TaskRecord& r = rec(table, "a");
  CHECK(r.state == TaskState::kCompleted);
  CHECK(r.result == "out");
  CHECK(r.error.empty());
  CHECK(r.finished_ms == 250);
  CHECK(r.lease_owner.empty());
  CHECK(r.lease_deadline_ms == 0);
  CHECK(r.timeout_at_ms == 0);
  REQUIRE(r.attempts.size() == 1);
  CHECK(r.attempts[0] == AttemptInfo{1, "node-a", 200, 250, AttemptOutcome::kSucceeded, ""});
  CHECK(table.count_in(TaskState::kCompleted) == 1);
  CHECK(table.count_in(TaskState::kLeased) == 0);
  CHECK(table.unfinished() == 0);
}

TEST_CASE("task table: fail with budget left LEASED -> PENDING after backoff") {
  TaskTable table;
  must(table, submit("a", 3));
  must(table, lease("a", 1, 200));
  must(table, OpFail{"a", 1, AttemptOutcome::kFailed, "boom", 300, 480});
  const TaskRecord& r = rec(table, "a");
  CHECK(r.state == TaskState::kPending);
  CHECK(r.failures == 1);
  CHECK(r.attempt == 1);
  CHECK(r.not_before_ms == 480);
  CHECK(r.error == "boom");
  CHECK(r.finished_ms == 0);
  CHECK(r.lease_owner.empty());
  CHECK(r.lease_deadline_ms == 0);
  CHECK(r.timeout_at_ms == 0);
  REQUIRE(r.attempts.size() == 1);
  CHECK(r.attempts[0] == AttemptInfo{1, "node-a", 200, 300, AttemptOutcome::kFailed, "boom"});
  CHECK(table.count_in(TaskState::kPending) == 1);
  CHECK(table.unfinished() == 1);
}

TEST_CASE("task table: a timed-out attempt is recorded as such") {
  TaskTable table;
  must(table, submit("a", 3));
  must(table, lease("a", 1, 200));
  must(table, fail("a", 1, 300, AttemptOutcome::kTimedOut));
  CHECK(rec(table, "a").attempts[0].outcome == AttemptOutcome::kTimedOut);
  CHECK(rec(table, "a").failures == 1);
  CHECK(rec(table, "a").state == TaskState::kPending);
}

TEST_CASE("task table: fail with the budget spent LEASED -> FAILED") {
  TaskTable table;
  must(table, submit("a", 2));
  must(table, lease("a", 1, 200));
  must(table, fail("a", 1, 300));
  must(table, lease("a", 2, 400));
  must(table, OpFail{"a", 2, AttemptOutcome::kFailed, "second", 500, 999});
  const TaskRecord& r = rec(table, "a");
  CHECK(r.state == TaskState::kFailed);
  CHECK(r.failures == 2);
  CHECK(r.finished_ms == 500);
  CHECK(r.error == "second");
  CHECK(r.lease_owner.empty());
  CHECK(table.count_in(TaskState::kFailed) == 1);
  CHECK(table.count_in(TaskState::kPending) == 0);
  CHECK(table.unfinished() == 0);
}

TEST_CASE("task table: max_attempts 1 fails on the first failure") {
  TaskTable table;
  must(table, submit("a", 1));
  must(table, lease("a", 1));
  must(table, fail("a", 1));
  CHECK(rec(table, "a").state == TaskState::kFailed);
}

TEST_CASE("task table: release LEASED -> PENDING without spending the budget") {
  TaskTable table;
  must(table, submit("a", 1));
  must(table, lease("a", 1, 200));
  must(table, OpRelease{"a", 1, "lease expired", 900});
  const TaskRecord& r = rec(table, "a");
  CHECK(r.state == TaskState::kPending);
  CHECK(r.failures == 0);
  CHECK(r.attempt == 1);
  CHECK(r.not_before_ms == 900);
  CHECK(r.lease_owner.empty());
  CHECK(r.lease_deadline_ms == 0);
  CHECK(r.timeout_at_ms == 0);
  REQUIRE(r.attempts.size() == 1);
  CHECK(r.attempts[0] == AttemptInfo{1, "node-a", 200, 900, AttemptOutcome::kLost, "lease expired"});
  // With max_attempts 1 a lost attempt still leaves the task its one try.
  must(table, lease("a", 2, 1000));
  must(table, OpComplete{"a", 2, "ok", 1100});
  CHECK(rec(table, "a").state == TaskState::kCompleted);
}

TEST_CASE("task table: cancel PENDING -> CANCELLED") {
  TaskTable table;
  must(table, submit("a"));
  must(table, OpCancel{"a", 150});
  const TaskRecord& r = rec(table, "a");
  CHECK(r.state == TaskState::kCancelled);
  CHECK(r.finished_ms == 150);
  CHECK(r.attempts.empty());
  CHECK(table.count_in(TaskState::kCancelled) == 1);
  CHECK(table.count_in(TaskState::kPending) == 0);
  CHECK(table.unfinished() == 0);
}

TEST_CASE("task table: cancel PENDING after a failed attempt keeps its history") {
  TaskTable table;
  must(table, submit("a"));
  must(table, lease("a", 1, 200));
  must(table, fail("a", 1, 300));
  must(table, OpCancel{"a", 400});
  const TaskRecord& r = rec(table, "a");
  CHECK(r.state == TaskState::kCancelled);
  REQUIRE(r.attempts.size() == 1);
  CHECK(r.attempts[0].outcome == AttemptOutcome::kFailed);
  CHECK(r.attempts[0].ended_ms == 300);
}

TEST_CASE("task table: cancel LEASED -> CANCELLED ends the running attempt") {
  TaskTable table;
  must(table, submit("a"));
  must(table, lease("a", 1, 200));
  must(table, OpCancel{"a", 250});
  const TaskRecord& r = rec(table, "a");
  CHECK(r.state == TaskState::kCancelled);
  CHECK(r.finished_ms == 250);
  CHECK(r.lease_owner.empty());
  CHECK(r.lease_deadline_ms == 0);
  REQUIRE(r.attempts.size() == 1);
  CHECK(r.attempts[0] == AttemptInfo{1, "node-a", 200, 250, AttemptOutcome::kCancelled, "cancelled"});
  CHECK(table.count_in(TaskState::kLeased) == 0);
  CHECK(table.unfinished() == 0);
}

// --- rejected transitions ----------------------------------------------------

TEST_CASE("task table: submit of an existing id is a conflict") {
  TaskTable table;
  must(table, submit("a"));
  expect_rejected(table, submit("a"), ErrorCode::kConflict);
  OpSubmit different = submit("a");
  different.spec.payload = "other";
  expect_rejected(table, different, ErrorCode::kConflict);
}

TEST_CASE("task table: lease attempts must come in order") {
  TaskTable table;
  must(table, submit("a"));
  SUBCASE("skipping ahead") { expect_rejected(table, lease("a", 2), ErrorCode::kStaleAttempt); }
  SUBCASE("attempt 0") { expect_rejected(table, lease("a", 0), ErrorCode::kStaleAttempt); }
  SUBCASE("reusing a finished attempt number") {
    must(table, lease("a", 1));
    must(table, fail("a", 1));
    expect_rejected(table, lease("a", 1), ErrorCode::kStaleAttempt);
    expect_rejected(table, lease("a", 3), ErrorCode::kStaleAttempt);
    must(table, lease("a", 2));
  }
}

TEST_CASE("task table: a LEASED record cannot be leased again") {
  TaskTable table;
  must(table, submit("a"));
  must(table, lease("a", 1));
  expect_rejected(table, lease("a", 2), ErrorCode::kStaleAttempt);
  expect_rejected(table, lease("a", 1), ErrorCode::kStaleAttempt);
}

TEST_CASE("task table: attempt ops on a PENDING record are stale") {
  TaskTable table;
  must(table, submit("a"));
  SUBCASE("never leased") {
    expect_rejected(table, OpRenew{"a", 0, 999}, ErrorCode::kStaleAttempt);
    expect_rejected(table, OpComplete{"a", 0, "x", 999}, ErrorCode::kStaleAttempt);
    expect_rejected(table, fail("a", 0), ErrorCode::kStaleAttempt);
    expect_rejected(table, OpRelease{"a", 0, "r", 999}, ErrorCode::kStaleAttempt);
  }
  SUBCASE("between attempts, naming the attempt that just ended") {
    must(table, lease("a", 1));
    must(table, OpRelease{"a", 1, "lost", 300});
    expect_rejected(table, OpRenew{"a", 1, 99999}, ErrorCode::kStaleAttempt);
    expect_rejected(table, OpComplete{"a", 1, "late", 400}, ErrorCode::kStaleAttempt);
    expect_rejected(table, fail("a", 1), ErrorCode::kStaleAttempt);
    expect_rejected(table, OpRelease{"a", 1, "again", 400}, ErrorCode::kStaleAttempt);
  }
}

TEST_CASE("task table: ops naming an older attempt than the current lease are stale") {
  TaskTable table;
  must(table, submit("a"));
  must(table, lease("a", 1, 200));
  must(table, OpRelease{"a", 1, "lost", 300});
  must(table, lease("a", 2, 400));
  expect_rejected(table, OpRenew{"a", 1, 99999}, ErrorCode::kStaleAttempt);
  expect_rejected(table, OpComplete{"a", 1, "late", 500}, ErrorCode::kStaleAttempt);
  expect_rejected(table, fail("a", 1, 500), ErrorCode::kStaleAttempt);
  expect_rejected(table, OpRelease{"a", 1, "late", 500}, ErrorCode::kStaleAttempt);
  // ... and so are ops naming a future attempt.
  expect_rejected(table, OpComplete{"a", 3, "future", 500}, ErrorCode::kStaleAttempt);
  // The current attempt still works.
  must(table, OpComplete{"a", 2, "ok", 600});
  CHECK(rec(table, "a").result == "ok");
}

TEST_CASE("task table: a terminal record never changes again") {
  TaskTable table;
  must(table, submit("a", 1));
  must(table, lease("a", 1, 200));
  TaskState terminal = TaskState::kPending;
  SUBCASE("COMPLETED") {
    must(table, OpComplete{"a", 1, "out", 300});
    terminal = TaskState::kCompleted;
  }
  SUBCASE("FAILED") {
    must(table, fail("a", 1, 300));
    terminal = TaskState::kFailed;
  }
  SUBCASE("CANCELLED") {
    must(table, OpCancel{"a", 300});
    terminal = TaskState::kCancelled;
  }
  CAPTURE(state_name(terminal));
  REQUIRE(rec(table, "a").state == terminal);
  expect_rejected(table, submit("a", 1), ErrorCode::kConflict);
  expect_rejected(table, lease("a", 2, 400), ErrorCode::kStaleAttempt);
  expect_rejected(table, OpRenew{"a", 1, 99999}, ErrorCode::kStaleAttempt);
  expect_rejected(table, OpComplete{"a", 1, "again", 400}, ErrorCode::kStaleAttempt);
  expect_rejected(table, fail("a", 1, 400), ErrorCode::kStaleAttempt);
  expect_rejected(table, OpRelease{"a", 1, "r", 400}, ErrorCode::kStaleAttempt);
  expect_rejected(table, OpCancel{"a", 400}, ErrorCode::kAlreadyTerminal);
}

TEST_CASE("task table: ops on an unknown id are not found") {
  TaskTable table;
  must(table, submit("other"));
  expect_rejected(table, lease("nope", 1), ErrorCode::kNotFound);
  expect_rejected(table, OpRenew{"nope", 1, 999}, ErrorCode::kNotFound);
  expect_rejected(table, OpComplete{"nope", 1, "x", 999}, ErrorCode::kNotFound);
  expect_rejected(table, fail("nope", 1), ErrorCode::kNotFound);
  expect_rejected(table, OpRelease{"nope", 1, "r", 999}, ErrorCode::kNotFound);
  expect_rejected(table, OpCancel{"nope", 999}, ErrorCode::kNotFound);
  CHECK(table.find("nope") == nullptr);
}

// --- counters, history, errors -----------------------------------------------

TEST_CASE("task table: counters by state and unfinished() track every transition") {
  TaskTable table;
  for (const char* id : {"p", "l", "c", "f", "x"}) must(table, submit(id, 1));
  CHECK(counts(table) == Counts{5, 0, 0, 0, 0});
  CHECK(table.unfinished() == 5);

  for (const char* id : {"l", "c", "f", "x"}) must(table, lease(id, 1));
  CHECK(counts(table) == Counts{1, 4, 0, 0, 0});
  CHECK(table.unfinished() == 5);

  must(table, OpComplete{"c", 1, "", 300});
  must(table, fail("f", 1));
  must(table, OpCancel{"x", 300});
  CHECK(counts(table) == Counts{1, 1, 1, 1, 1});
  CHECK(table.unfinished() == 2);

  must(table, OpRelease{"l", 1, "lost", 400});
  CHECK(counts(table) == Counts{2, 0, 1, 1, 1});
  CHECK(table.unfinished() == 2);

  must(table, OpCancel{"l", 500});
  must(table, OpCancel{"p", 500});
  CHECK(counts(table) == Counts{0, 0, 1, 1, 3});
  CHECK(table.unfinished() == 0);
  CHECK(table.records().size() == 5);
}

TEST_CASE("task table: attempt history is numbered and keeps every outcome") {
  TaskTable table;
  must(table, submit("a", 3));
  must(table, lease("a", 1, 1000));
  must(table, OpFail{"a", 1, AttemptOutcome::kFailed, "e1", 1100, 1200});
  must(table, lease("a", 2, 1200));
  must(table, OpRelease{"a", 2, "lost", 1300});
  must(table, lease("a", 3, 1400));
  must(table, OpFail{"a", 3, AttemptOutcome::kTimedOut, "slow", 1500, 1600});
  must(table, lease("a", 4, 1600));
  must(table, OpComplete{"a", 4, "done", 1700});

  const TaskRecord& r = rec(table, "a");
  CHECK(r.state == TaskState::kCompleted);
  CHECK(r.attempt == 4);
  CHECK(r.failures == 2);  // the lost attempt does not count
  CHECK(r.error.empty());  // cleared by success
  CHECK(r.result == "done");
  REQUIRE(r.attempts.size() == 4);
  CHECK(r.attempts[0] == AttemptInfo{1, "node-a", 1000, 1100, AttemptOutcome::kFailed, "e1"});
  CHECK(r.attempts[1] == AttemptInfo{2, "node-a", 1200, 1300, AttemptOutcome::kLost, "lost"});
  CHECK(r.attempts[2] == AttemptInfo{3, "node-a", 1400, 1500, AttemptOutcome::kTimedOut, "slow"});
  CHECK(r.attempts[3] == AttemptInfo{4, "node-a", 1600, 1700, AttemptOutcome::kSucceeded, ""});
  int succeeded = 0;
  for (const auto& a : r.attempts) succeeded += a.outcome == AttemptOutcome::kSucceeded;
  CHECK(succeeded == 1);
}

TEST_CASE("task table: error text is truncated to the limit") {
  TaskTable table;
  must(table, submit("a", 3));
  must(table, lease("a", 1));
  std::string long_error(limits::kMaxErrorBytes + 100, 'e');
  must(table, OpFail{"a", 1, AttemptOutcome::kFailed, long_error, 300, 400});
  const TaskRecord& r = rec(table, "a");
  CHECK(r.attempts[0].error.size() == limits::kMaxErrorBytes);
  CHECK(r.error.size() == limits::kMaxErrorBytes);
}

TEST_CASE("task table: op_task_id names the task of every op") {
  CHECK(op_task_id(submit("s")) == "s");
  CHECK(op_task_id(lease("l", 1)) == "l");
  CHECK(op_task_id(OpRenew{"r", 1, 0}) == "r");
  CHECK(op_task_id(OpComplete{"c", 1, "", 0}) == "c");
  CHECK(op_task_id(fail("f", 1)) == "f");
  CHECK(op_task_id(OpRelease{"x", 1, "", 0}) == "x");
  CHECK(op_task_id(OpCancel{"k", 0}) == "k");
  CHECK(op_task_id(OpRetry{"y", 0}) == "y");
  CHECK(op_task_id(OpPurge{1, 1, 1}).empty());
}

// --- restore ---------------------------------------------------------------------

TaskRecord stored(const std::string& id, TaskState state, uint32_t attempt = 0) {
  TaskRecord r;
  r.spec = make_spec(id);
  r.partition = 3;
  r.state = state;
  r.attempt = attempt;
  r.submitted_ms = 10;
  r.not_before_ms = 10;
  if (state == TaskState::kLeased) {
    r.lease_owner = "node-a";
    r.lease_deadline_ms = 5000;
    r.timeout_at_ms = 9000;
    r.attempts.push_back(AttemptInfo{attempt, "node-a", 20, 0, AttemptOutcome::kRunning, ""});
  }
  return r;
}

TEST_CASE("task table: restore loads records and counts them") {
  TaskTable table;
  table.restore(stored("p", TaskState::kPending));
  table.restore(stored("l", TaskState::kLeased, 2));
  table.restore(stored("c", TaskState::kCompleted, 1));
  table.restore(stored("f", TaskState::kFailed, 3));
  table.restore(stored("x", TaskState::kCancelled));
  CHECK(counts(table) == Counts{1, 1, 1, 1, 1});
  CHECK(table.unfinished() == 2);
  CHECK(rec(table, "l") == stored("l", TaskState::kLeased, 2));
}

TEST_CASE("task table: restored records accept the ops their state allows") {
  TaskTable table;
  table.restore(stored("l", TaskState::kLeased, 2));
  table.restore(stored("p", TaskState::kPending, 4));
  expect_rejected(table, OpComplete{"l", 1, "stale", 100}, ErrorCode::kStaleAttempt);
  must(table, OpComplete{"l", 2, "ok", 100});
  CHECK(rec(table, "l").attempts.back().outcome == AttemptOutcome::kSucceeded);
  expect_rejected(table, lease("p", 4), ErrorCode::kStaleAttempt);
  must(table, lease("p", 5));
  CHECK(counts(table) == Counts{0, 1, 1, 0, 0});
  CHECK(table.unfinished() == 1);
}

TEST_CASE("task table: restore replaces a record in memory and fixes the counts") {
  TaskTable table;
  SUBCASE("unfinished -> terminal") {
    must(table, submit("a"));
    table.restore(stored("a", TaskState::kCompleted, 1));
    CHECK(counts(table) == Counts{0, 0, 1, 0, 0});
    CHECK(table.unfinished() == 0);
  }
  SUBCASE("terminal -> unfinished") {
    must(table, submit("a"));
    must(table, OpCancel{"a", 200});
    table.restore(stored("a", TaskState::kPending));
    CHECK(counts(table) == Counts{1, 0, 0, 0, 0});
    CHECK(table.unfinished() == 1);
  }
  SUBCASE("unfinished -> unfinished") {
    must(table, submit("a"));
    table.restore(stored("a", TaskState::kLeased, 1));
    CHECK(counts(table) == Counts{0, 1, 0, 0, 0});
    CHECK(table.unfinished() == 1);
  }
  SUBCASE("terminal -> terminal") {
    must(table, submit("a"));
    must(table, OpCancel{"a", 200});
    table.restore(stored("a", TaskState::kFailed, 3));
    CHECK(counts(table) == Counts{0, 0, 0, 1, 0});
    CHECK(table.unfinished() == 0);
  }
  CHECK(table.records().size() == 1);
  CHECK(rec(table, "a").partition == 3);  // the stored copy won
}

TEST_CASE("task table: releasing a restored lease without history clears the lease") {
  // A record persisted LEASED whose attempt list is empty (e.g. written by an
  // older version) must still come back clean: PENDING with no owner.
  TaskTable table;
  TaskRecord r = stored("a", TaskState::kLeased, 1);
  r.attempts.clear();
  table.restore(r);
  must(table, OpRelease{"a", 1, "runner lost", 100});
  const TaskRecord& after = rec(table, "a");
  CHECK(after.state == TaskState::kPending);
  CHECK(after.lease_owner.empty());
  CHECK(after.lease_deadline_ms == 0);
  CHECK(after.timeout_at_ms == 0);
}

// --- retention and retry -------------------------------------------------------------

// Submits `id` and ends it in `state` at `at_ms`.
void finish(TaskTable& table, const std::string& id, TaskState state, uint64_t at_ms) {
  must(table, submit(id, 1));
  if (state == TaskState::kCancelled) return must(table, OpCancel{id, at_ms});
  must(table, lease(id, 1));
  if (state == TaskState::kCompleted) return must(table, OpComplete{id, 1, "ok", at_ms});
  must(table, fail(id, 1, at_ms));
}

TEST_CASE("task table: purge removes finished records older than their cutoff, and nothing else") {
  TaskTable table;
  finish(table, "c-old", TaskState::kCompleted, 1000);
  finish(table, "x-old", TaskState::kCancelled, 1500);
  finish(table, "c-new", TaskState::kCompleted, 3000);
  finish(table, "f-old", TaskState::kFailed, 1000);
  finish(table, "f-mid", TaskState::kFailed, 2500);
  must(table, submit("p"));
  must(table, submit("l"));
  must(table, lease("l", 1));
  CHECK(table.has_expired(2000, 2000));
  std::vector<std::string> removed = table.purge(OpPurge{2000, 2000, 100});
  CHECK(removed == std::vector<std::string>{"c-old", "f-old", "x-old"});
  CHECK(table.records().size() == 4);
  CHECK(table.find("c-new") != nullptr);
  CHECK(table.find("f-mid") != nullptr);
  CHECK(counts(table) == Counts{1, 1, 1, 1, 0});
  CHECK(table.unfinished() == 2);
  CHECK_FALSE(table.has_expired(2000, 2000));
  CHECK(table.purge(OpPurge{2000, 2000, 100}).empty());
}

TEST_CASE("task table: dead letters have their own cutoff") {
  TaskTable table;
  finish(table, "c", TaskState::kCompleted, 1000);
  finish(table, "f", TaskState::kFailed, 1000);
  CHECK(table.purge(OpPurge{5000, 0, 100}) == std::vector<std::string>{"c"});
  CHECK_FALSE(table.has_expired(5000, 1000));
  CHECK(table.purge(OpPurge{5000, 1001, 100}) == std::vector<std::string>{"f"});
  CHECK(table.records().empty());
}

TEST_CASE("task table: a purge removes at most max_records, the oldest first") {
  TaskTable table;
  for (int i = 0; i < 10; ++i) finish(table, "t" + std::to_string(i), TaskState::kCompleted, 1000 - i);
  CHECK(table.purge(OpPurge{2000, 2000, 3}) == std::vector<std::string>{"t9", "t8", "t7"});
  CHECK(table.records().size() == 7);
  CHECK(table.purge(OpPurge{2000, 2000, 100}).size() == 7);
}

TEST_CASE("task table: replicas applying the same purge keep identical tables") {
  // One replica learned its records from a snapshot, the other from ops.
  TaskTable applied;
  for (int i = 0; i < 20; ++i) {
    finish(applied, "t" + std::to_string(i), static_cast<TaskState>(2 + i % 3), 100 * (i % 7));
  }
  TaskTable restored;
  for (const auto& [id, record] : applied.records()) restored.restore(record);
  OpPurge op{400, 300, 6};
  CHECK(applied.purge(op) == restored.purge(op));
  CHECK(applied.records() == restored.records());
  CHECK(applied.records().size() == 14);
  CHECK(counts(applied) == counts(restored));
}

TEST_CASE("task table: a purged id is unknown again and may be submitted anew") {
  TaskTable table;
  finish(table, "a", TaskState::kCompleted, 1000);
  must(table, OpPurge{2000, 2000, 10});
  CHECK(table.find("a") == nullptr);
  must(table, submit("a"));
  CHECK(rec(table, "a").state == TaskState::kPending);
  CHECK(rec(table, "a").attempt == 0);
}

TEST_CASE("task table: restore re-indexes a replaced record for retention") {
  TaskTable table;
  finish(table, "a", TaskState::kCompleted, 1000);
  TaskRecord later = rec(table, "a");
  later.finished_ms = 9000;
  table.restore(later);
  CHECK_FALSE(table.has_expired(2000, 2000));
  CHECK(table.purge(OpPurge{9001, 0, 10}) == std::vector<std::string>{"a"});
}

TEST_CASE("task table: retry FAILED -> PENDING with a fresh budget, history and numbering kept") {
  TaskTable table;
  must(table, submit("a", 2));
  must(table, lease("a", 1));
  must(table, fail("a", 1));
  must(table, lease("a", 2));
  must(table, fail("a", 2, 500));
  REQUIRE(rec(table, "a").state == TaskState::kFailed);
  must(table, OpRetry{"a", 900});
  const TaskRecord& r = rec(table, "a");
  CHECK(r.state == TaskState::kPending);
  CHECK(r.failures == 0);
  CHECK(r.not_before_ms == 900);
  CHECK(r.finished_ms == 0);
  CHECK(r.attempts.size() == 2);
  CHECK(counts(table) == Counts{1, 0, 0, 0, 0});
  CHECK(table.unfinished() == 1);
  CHECK_FALSE(table.has_expired(UINT64_MAX, UINT64_MAX));  // no longer held for retention
  expect_rejected(table, lease("a", 1), ErrorCode::kStaleAttempt);
  must(table, lease("a", 3));
  must(table, fail("a", 3));
  CHECK(rec(table, "a").state == TaskState::kPending);  // the budget of 2 is fresh
}

TEST_CASE("task table: retry of anything but a dead letter changes nothing") {
  TaskTable table;
  finish(table, "c", TaskState::kCompleted, 100);
  finish(table, "x", TaskState::kCancelled, 100);
  must(table, submit("p"));
  for (const char* id : {"c", "x", "p"}) expect_rejected(table, OpRetry{id, 200}, ErrorCode::kConflict);
  expect_rejected(table, OpRetry{"nobody", 200}, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace mesh
