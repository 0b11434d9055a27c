// Backup attempts under the simulator: a job whose tasks on one node run 20
// times slower finishes at the pace of the others once its stragglers get
// backup attempts elsewhere; the first result commits and the attempt it
// raced is cancelled; a task marked no_backup waits for its straggler.
#include <map>
#include <set>

#include "node/sim/mesh_checks.h"
#include "node/sim/stealing_scenario.h"
#include "tests/sim/sim_harness.h"
#include "tools/testkit/record_check.h"

namespace mesh::test {
namespace {

struct JobRun {
  uint64_t makespan_ms = 0;
  size_t backups = 0;      // backup attempts started
  size_t backups_won = 0;  // tasks their backup completed
  uint64_t proposed = 0;   // backup leases proposed, and committed (counters)
  uint64_t started = 0;
  std::string problems;    // records that break an invariant
};

// An atomic job of 48 sleep tasks of 100 ms, spread over the partitions of
// 4 nodes of 2 slots with stealing on; n3 runs everything 20 times as long.
JobRun run_job(bool no_backup, bool backups_enabled = true, uint64_t check_interval_ms = 100) {
  Simulator sim(/*seed=*/5, NetworkFaults{});
  for (size_t i = 0; i < 4; ++i) {
    NodeConfig config = stealing_config(i, /*steal=*/true);
    config.backups.enabled = backups_enabled;
    config.backups.check_interval_ms = check_interval_ms;
    sim.add_node(config);
  }
  sim.slow_down(3, 20);
  sim.join(0, {}, 0);
  for (size_t i = 1; i < 4; ++i) sim.join(i, {Simulator::address_of("n0")}, i * 20);
  REQUIRE(sim.run_until([&] { return stealing_settled(sim); }, 60000, 50));
  std::vector<TaskSpec> tasks = sleep_tasks("job-", 48, 100);
  for (auto& t : tasks) t.no_backup = no_backup;
  uint64_t submitted_at = sim.now() + 1;
  sim.schedule(0, submitted_at, in::Submit{1, tasks, /*atomic=*/true, "job-1"});
  std::set<std::string> ids;
  REQUIRE(sim.run_until([&] { ids = acknowledged(sim); return ids.size() == tasks.size(); }, submitted_at + 5000, 1));
  auto done = sim.run_until([&] { return all_terminal(sim, ids); }, submitted_at + 60000, 10);
  REQUIRE(done.has_value());
  JobRun run;
  run.makespan_ms = *done - submitted_at;
  for (size_t i = 0; i < sim.size(); ++i) {
    const auto& counters = sim.node(i).counters();
    auto value = [&](const char* name) { auto it = counters.find(name); return it == counters.end() ? 0 : it->second; };
    run.proposed += value("backup_attempts_proposed");
    run.started += value("backup_attempts_started");
  }
  for (const auto& id : ids) {
    const TaskRecord& r = *leader_record(sim, id);
    CHECK(r.state == TaskState::kCompleted);
    std::string problem = check_record(r);
    if (!problem.empty()) run.problems += problem + "; ";
    for (const auto& a : r.attempts) {
      if (!a.backup) continue;
      ++run.backups;
      if (a.outcome != AttemptOutcome::kSucceeded) continue;
      ++run.backups_won;
      // The attempt it raced is cancelled, and says why.
      bool superseded = false;
      for (const auto& other : r.attempts) {
        superseded |= other.attempt != a.attempt && other.outcome == AttemptOutcome::kCancelled &&
                      other.error.find("superseded") != std::string::npos;
      }
      CHECK_MESSAGE(superseded, "task " << id << ": its backup won, but the attempt it raced was not cancelled");
    }
  }
  return run;
}

TEST_CASE("sim backups: a job's stragglers on a slow node get backup attempts, and the job ends at the others' pace") {
  JobRun with = run_job(/*no_backup=*/false);
  JobRun marked = run_job(/*no_backup=*/true);
  JobRun off = run_job(/*no_backup=*/false, /*backups_enabled=*/false);
  MESSAGE("48 x 100 ms, n3 20x slower: makespan " << with.makespan_ms << " ms with backups (" << with.backups
          << " started, " << with.backups_won << " won), " << marked.makespan_ms << " ms with no_backup tasks, "
          << off.makespan_ms << " ms with backups off");
  CHECK(with.problems == "");
  CHECK(marked.problems == "");
  CHECK(with.backups_won >= 1);
  CHECK(with.backups <= 48 / 4);  // only stragglers, not the job
  // A straggler on n3 runs 2000 ms: without a backup the job waits for it
  // (and for the next one n3 took); with backups it does not.
  CHECK(with.makespan_ms < 2000);
  CHECK(2 * with.makespan_ms < off.makespan_ms);
  CHECK(marked.backups == 0);
  CHECK(off.backups == 0);
  CHECK(marked.makespan_ms >= 2000);
  CHECK(off.makespan_ms >= 2000);
}

TEST_CASE("sim backups: a leader checking more often than a lease commits proposes each backup once") {
  // Checked every millisecond, a straggler is seen again while its backup's
  // lease is still in flight: no second lease may race the first.
  JobRun run = run_job(/*no_backup=*/false, /*backups_enabled=*/true, /*check_interval_ms=*/1);
  MESSAGE("checked every 1 ms: " << run.proposed << " backups proposed, " << run.started << " committed, makespan "
                                 << run.makespan_ms << " ms");
  CHECK(run.problems == "");
  CHECK(run.started >= 1);
  CHECK(run.proposed == run.started);
}

}  // namespace
}  // namespace mesh::test
