// Backup attempts on real processes: a job's task whose first attempt hangs
// gets a backup attempt on another node once the rest of the job is done;
// the backup's result commits, the hanging attempt is cancelled in the
// record and its process is stopped, and meshctl shows both attempts. (A
// task marked no_backup getting none is shown in the simulator, where
// "none started" can be checked without waiting on a clock.)
#include <fstream>

#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

// An exec task whose first attempt (whichever node runs it) writes its pid
// and waits for a gate that never opens; any later attempt finds the
// marker the first one made and answers at once.
TaskSpec straggler(const std::string& id, const std::string& dir) {
  std::string script = "if mkdir " + dir + "/first 2>/dev/null; then echo $$ > " + dir +
                       "/first/pid; while [ ! -e " + dir + "/never ]; do sleep 0.02; done; fi; echo backup-won";
  TaskSpec t = task(id, "exec", R"({"argv": [")" + program_path("sh") + R"(", "-c", ")" + script + R"("]})");
  t.timeout_ms = 600000;
  return t;
}

// The pid the first attempt wrote; 0 until it has.
pid_t first_attempt_pid(const std::string& dir) {
  pid_t pid = 0;
  std::ifstream(dir + "/first/pid") >> pid;
  return pid;
}

TEST_CASE("a job's hanging task gets a backup attempt elsewhere; the backup commits and the hung run is stopped") {
  TempDir temp("meshbackup-");
  REQUIRE(!temp.path().empty());
  TempDir marks("meshbackupmarks-");
  REQUIRE(!marks.path().empty());
  auto nodes = start_mesh(3, "b", temp.path(), {});
  REQUIRE(wait_until([&] { return led_as_preferred(nodes); }));
  std::vector<TaskSpec> tasks;
  for (int i = 0; i < 12; ++i) tasks.push_back(task("quick-" + std::to_string(i), "sleep", "20"));
  tasks.push_back(straggler("slow", marks.path()));
  auto client = nodes[0]->client();
  auto submitted = client->submit_atomic(tasks, "job-b");
  REQUIRE_MESSAGE(submitted.ok(), submitted.status().message());
  auto done = client->wait(WaitRequest{{"slow"}, false, kDeadlineMs});
  REQUIRE_MESSAGE(done.ok(), done.status().message());
  REQUIRE(done.value().records.size() == 1);
  const TaskRecord& r = done.value().records[0];
  std::string history;
  for (const auto& a : r.attempts) {
    history += std::to_string(a.attempt) + " on " + a.runner + ": " + outcome_name(a.outcome) + (a.backup ? " (backup)" : "") + "; ";
  }
  INFO("attempts: " << history);
  CHECK(r.state == TaskState::kCompleted);
  CHECK(r.result.find("backup-won") != std::string::npos);
  CHECK(check_record(r) == "");
  // Both attempts are in the record: the backup won, the first was cancelled.
  REQUIRE(r.attempts.size() == 2);
  CHECK_FALSE(r.attempts[0].backup);
  CHECK(r.attempts[0].outcome == AttemptOutcome::kCancelled);
  CHECK(r.attempts[0].error.find("superseded") != std::string::npos);
  CHECK(r.attempts[1].backup);
  CHECK(r.attempts[1].outcome == AttemptOutcome::kSucceeded);
  CHECK(r.attempts[0].runner != r.attempts[1].runner);
  // The hung first attempt is stopped, not left to hold its slot.
  pid_t pid = first_attempt_pid(marks.path());
  REQUIRE(pid > 0);
  CHECK_MESSAGE(wait_until([&] { return process_gone(pid); }), "the first attempt's process " << pid << " still runs");
  // meshctl get shows the race.
  Exit shown = run_command(std::string(MESHCTL_PATH) + " --addr " + nodes[1]->process().endpoint() + " get slow");
  CHECK(shown.code == 0);
  CHECK_MESSAGE(shown.output.find("(backup)") != std::string::npos, shown.output);
  // The job's other tasks ran once each: none got a backup.
  auto rest = client->get({"quick-0", "quick-1", "quick-2", "quick-3"});
  REQUIRE(rest.ok());
  for (const auto& q : rest.value().records) CHECK(q.attempts.size() == 1);
}

}  // namespace
}  // namespace mesh::test
