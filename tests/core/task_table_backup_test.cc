// The table's side of backup attempts: a second lease racing the first,
// the first outcome to commit wins, the other is fenced.
#include <doctest/doctest.h>

#include "node/core/backup_attempts.h"
#include "node/core/task_table.h"
#include "protocol/codec.h"

namespace mesh {
namespace {

void must(TaskTable& table, const TaskOp& op) {
  Status s = table.apply(op);
  REQUIRE_MESSAGE(s.ok(), s.message());
}

OpLease lease_on(const std::string& owner, uint32_t attempt, bool backup = false, uint64_t at_ms = 200) {
  return OpLease{"t", attempt, owner, at_ms, at_ms + 10000, at_ms + 60000, backup};
}

// A table holding task "t", leased as attempt 1 on node-a and backed up as
// attempt 2 on node-b.
TaskTable racing_table(uint32_t max_attempts = 3) {
  TaskTable table;
  TaskSpec spec;
  spec.id = "t";
  spec.handler = "echo";
  spec.max_attempts = max_attempts;
  must(table, OpSubmit{spec, 3, 100});
  must(table, lease_on("node-a", 1));
  must(table, lease_on("node-b", 2, true, 900));
  return table;
}

const TaskRecord& record(const TaskTable& table) { return *table.find("t"); }

}  // namespace

TEST_CASE("backup attempts: a backup lease races the running attempt on another node") {
  TaskTable table = racing_table();
  const TaskRecord& r = record(table);
  CHECK(r.state == TaskState::kLeased);
  CHECK(r.attempt == 1);
  CHECK(r.lease_owner == "node-a");
  CHECK(r.backup == BackupLease{2, "node-b", 10900, 60900});
  REQUIRE(r.attempts.size() == 2);
  CHECK_FALSE(r.attempts[0].backup);
  CHECK(r.attempts[1].backup);
  CHECK(r.attempts[1].outcome == AttemptOutcome::kRunning);
  CHECK(is_current_lease(r, 1, "node-a"));
  CHECK(is_current_lease(r, 2, "node-b"));
  CHECK_FALSE(is_current_lease(r, 2, "node-a"));
  CHECK(next_attempt(r) == 3);
}

TEST_CASE("backup attempts: the table refuses a backup that cannot race") {
  TaskTable table;
  TaskSpec spec;
  spec.id = "t";
  spec.handler = "echo";
  must(table, OpSubmit{spec, 3, 100});
  CHECK(table.apply(lease_on("node-b", 1, true)).code() == ErrorCode::kStaleAttempt);  // nothing runs yet
  must(table, lease_on("node-a", 1));
  CHECK(table.apply(lease_on("node-a", 2, true)).code() == ErrorCode::kInvalidArgument);  // its own runner
  CHECK(table.apply(lease_on("node-b", 3, true)).code() == ErrorCode::kStaleAttempt);     // number skipped
  must(table, lease_on("node-b", 2, true));
  CHECK(table.apply(lease_on("node-c", 3, true)).code() == ErrorCode::kStaleAttempt);  // one backup at most
  CHECK(record(table).attempts.size() == 2);
}

TEST_CASE("backup attempts: whichever completes first commits, the other is cancelled") {
  for (uint32_t winner : {1u, 2u}) {
    CAPTURE(winner);
    TaskTable table = racing_table();
    uint32_t loser = 3 - winner;
    must(table, OpComplete{"t", winner, "out", 1500});
    const TaskRecord& r = record(table);
    CHECK(r.state == TaskState::kCompleted);
    CHECK(r.result == "out");
    CHECK(r.backup.attempt == 0);
    CHECK(r.lease_owner.empty());
    CHECK(find_attempt(r, winner)->outcome == AttemptOutcome::kSucceeded);
    CHECK(find_attempt(r, loser)->outcome == AttemptOutcome::kCancelled);
    CHECK(find_attempt(r, loser)->error == "superseded: attempt " + std::to_string(winner) + " completed first");
    // The loser's late outcome is fenced, and changes nothing.
    CHECK(table.apply(OpComplete{"t", loser, "late", 1600}).code() == ErrorCode::kStaleAttempt);
    CHECK(table.apply(OpFail{"t", loser, AttemptOutcome::kFailed, "late", 1600, 1700}).code() ==
          ErrorCode::kStaleAttempt);
    CHECK(record(table).result == "out");
  }
}

TEST_CASE("backup attempts: when the first attempt fails or is lost, the backup runs on as the lease") {
  TaskTable failed = racing_table();
  must(failed, OpFail{"t", 1, AttemptOutcome::kFailed, "boom", 1000, 1100});
  TaskTable lost = racing_table();
  must(lost, OpRelease{"t", 1, "runner lost", 1000, 5});
  for (TaskTable* table : {&failed, &lost}) {
    const TaskRecord& r = record(*table);
    CHECK(r.state == TaskState::kLeased);
    CHECK(r.attempt == 2);
    CHECK(r.lease_owner == "node-b");
    CHECK(r.lease_deadline_ms == 10900);
    CHECK(r.backup.attempt == 0);
    CHECK(is_current_lease(r, 2, "node-b"));
    CHECK_FALSE(is_current_lease(r, 1));
    CHECK(r.lost_attempts == 0);  // one of two racing runners lost: the task was not
    must(*table, OpComplete{"t", 2, "out", 2000});
    CHECK(record(*table).state == TaskState::kCompleted);
  }
  CHECK(record(failed).failures == 1);
}

TEST_CASE("backup attempts: a backup that ends first leaves the lease running, and its number used") {
  TaskTable table = racing_table();
  must(table, OpRelease{"t", 2, "runner lost", 1000, 5});
  const TaskRecord& r = record(table);
  CHECK(r.state == TaskState::kLeased);
  CHECK(r.attempt == 1);
  CHECK(r.lease_owner == "node-a");
  CHECK(r.backup.attempt == 0);
  CHECK(find_attempt(r, 2)->outcome == AttemptOutcome::kLost);
  // The next attempt is 3, never 2 again: numbers fence.
  CHECK(next_attempt(r) == 3);
  must(table, OpFail{"t", 1, AttemptOutcome::kFailed, "boom", 1100, 1200});
  CHECK(record(table).state == TaskState::kPending);
  CHECK(table.apply(lease_on("node-c", 2)).code() == ErrorCode::kStaleAttempt);
  must(table, lease_on("node-c", 3));
}

TEST_CASE("backup attempts: renewals extend the lease they name") {
  TaskTable table = racing_table();
  must(table, OpRenew{"t", 2, 20000});
  CHECK(record(table).backup.deadline_ms == 20000);
  CHECK(record(table).lease_deadline_ms == 10200);
  must(table, OpRenew{"t", 1, 30000});
  CHECK(record(table).lease_deadline_ms == 30000);
}

TEST_CASE("backup attempts: a cancel ends both racing attempts") {
  TaskTable table = racing_table();
  must(table, OpCancel{"t", 1000});
  const TaskRecord& r = record(table);
  CHECK(r.state == TaskState::kCancelled);
  CHECK(r.backup.attempt == 0);
  CHECK(find_attempt(r, 1)->outcome == AttemptOutcome::kCancelled);
  CHECK(find_attempt(r, 2)->outcome == AttemptOutcome::kCancelled);
}

TEST_CASE("backup attempts: a record with a backup survives encoding, as in a snapshot") {
  TaskTable table = racing_table();
  auto decoded = decode_record(encode_record(record(table)));
  REQUIRE(decoded.ok());
  CHECK(decoded.value() == record(table));
  TaskTable restored;
  restored.restore(decoded.value());
  must(restored, OpComplete{"t", 2, "out", 1500});
  CHECK(find_attempt(record(restored), 1)->outcome == AttemptOutcome::kCancelled);
}

TEST_CASE("backup attempts: a job's attempt straggles only late in the job and far past its median") {
  BackupConfig config;  // 3/4 done, 2x the median and 200 ms past it
  JobProgress job{8, 6, 100};
  CHECK(straggles(job, 300, config));
  CHECK_FALSE(straggles(job, 199, config));   // under twice the median
  JobProgress slow{8, 6, 1000};
  CHECK(straggles(slow, 2000, config));
  CHECK_FALSE(straggles(JobProgress{8, 6, 50}, 199, config));  // twice the median, but under 200 ms past it
  CHECK_FALSE(straggles(JobProgress{8, 5, 100}, 10000, config));  // not three quarters done
  CHECK_FALSE(straggles(JobProgress{8, 6, std::nullopt}, 10000, config));  // nothing succeeded yet
  CHECK_FALSE(straggles(JobProgress{1, 1, 100}, 10000, config));  // a job of one task has no median to compare
}

TEST_CASE("backup attempts: job progress reads the records of the job's tasks") {
  std::map<TaskKey, TaskRecord> records;
  auto add = [&](const std::string& id, TaskState state, uint64_t run_ms) {
    TaskRecord r;
    r.spec.id = id;
    r.state = state;
    if (state == TaskState::kCompleted) r.attempts.push_back({1, "n", 1000, 1000 + run_ms, AttemptOutcome::kSucceeded, {}});
    records[TaskKey{0, id}] = r;
  };
  add("a", TaskState::kCompleted, 100);
  add("b", TaskState::kCompleted, 300);
  add("c", TaskState::kCompleted, 200);
  add("d", TaskState::kLeased, 0);
  add("e", TaskState::kFailed, 0);
  JobIndex::Job indexed;
  for (const auto& [key, r] : records) indexed.tasks.insert(key);
  indexed.purged = 2;  // finished, then removed by retention
  JobProgress job = job_progress(indexed, [&](const TaskKey& k) -> const TaskRecord* {
    auto it = records.find(k);
    return it == records.end() ? nullptr : &it->second;
  });
  CHECK(job.tasks == 7);
  CHECK(job.finished == 6);
  CHECK(job.median_run_ms == 200);
}

TEST_CASE("backup attempts: the job index follows notes and forgets") {
  JobIndex index;
  index.note(TaskKey{1, "a"}, "job-1");
  index.note(TaskKey{2, "b"}, "job-1");
  index.note(TaskKey{2, "b"}, "job-1");
  index.note(TaskKey{3, "c"}, "");  // not a job's task
  REQUIRE(index.find("job-1") != nullptr);
  CHECK(index.find("job-1")->tasks.size() == 2);
  index.forget(TaskKey{1, "a"}, /*purged=*/true);
  index.forget(TaskKey{3, "c"});
  CHECK(index.find("job-1")->tasks.size() == 1);
  CHECK(index.find("job-1")->purged == 1);
  index.forget(TaskKey{2, "b"});
  CHECK(index.find("job-1") == nullptr);
  CHECK(index.jobs() == 0);
}

}  // namespace mesh
