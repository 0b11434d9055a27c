// Transactions across partitions under the simulator: guarantee 5 (all or
// none) beside 1-4, with coordinator and participant nodes crashing at every
// step of the protocol, partitions, loss and duplication.
#include <algorithm>

#include "node/core/partitioning.h"
#include "node/sim/replication_scenario.h"
#include "tests/sim/seed_plan.h"
#include "tests/sim/sim_harness.h"

namespace mesh::test {
namespace {

std::vector<TaskSpec> job(const std::string& prefix, size_t n) {
  std::vector<TaskSpec> tasks = sleep_batch(prefix, n, 5);
  return tasks;
}

template <typename R = SubmitReply>
const R* reply_of(const Simulator& sim, size_t node, RequestRef request) {
  for (const auto& r : sim.replies(node)) {
    if (r.request == request) return std::get_if<R>(&r.reply);
  }
  return nullptr;
}

std::set<uint32_t> partitions_of(const std::vector<TaskSpec>& tasks) {
  std::set<uint32_t> partitions;
  for (const auto& t : tasks) partitions.insert(partition_of(t.id, kReplicatedPartitions));
  return partitions;
}

// The last node that leads no partition (node 0 when every node leads one).
size_t leading_nothing(const Simulator& sim) {
  size_t found = 0;
  for (size_t i = 0; i < sim.size(); ++i) {
    bool leads_none = true;
    for (uint32_t p = 0; p < kReplicatedPartitions; ++p) leads_none = leads_none && !sim.node(i).leads(p);
    if (leads_none) found = i;
  }
  return found;
}

// Intents, that is; a recovery's fences stay keep_decision_ms.
bool holds_intents(const TaskTable& table) {
  return std::any_of(table.prepared().begin(), table.prepared().end(), [](const auto& p) { return !p.second.fenced; });
}

size_t stored(const Simulator& sim, const std::vector<TaskSpec>& tasks) {
  size_t n = 0;
  for (const auto& t : tasks) n += leader_record(sim, t.id) != nullptr;
  return n;
}

// Seeds: MESH_TRANSACTIONS_SEED / MESH_TRANSACTIONS_SEEDS.
TEST_CASE("sim transactions: seeded chaos leaves every job whole or absent, and nothing in doubt") {
  SeedPlan plan = seed_plan("transactions", "sim transactions: seeded*", 1000, {1, 2, 3, 715560768, 339106838, 900695751, 264961881}, /*in_mesh_sim=*/true);
  SeedCounts totals = run_seed_plan(plan, run_transactions_seed);
  MESSAGE(plan.seeds().size() << " transaction seeds, every job all or none, none in doubt: " << describe_counts(totals));
  CHECK(totals["jobs"] > 0);
  if (plan.full_run()) {
    CHECK(totals["txns_stored"] > 0);
    CHECK(totals["txns_not_stored"] > 0);
    CHECK(totals["coordinator_crashes"] > 0);
    CHECK(totals["txn_inquiries"] > 0);
    CHECK(totals["job_cancels_committed"] > 0);
    CHECK(totals["tasks_cancelled_with_their_job"] > 0);
    CHECK(totals["backup_attempts_started"] > 0);  // crashes and partitions make stragglers
  }
}

TEST_CASE("sim transactions: an atomic job over every partition is stored whole and answered once") {
  ReplicatedMesh mesh(11, 5);
  Simulator& sim = mesh.sim;
  REQUIRE(sim.run_until([&] { return mesh.settled(); }, 20000, 50));
  std::vector<TaskSpec> tasks = job("whole-", 40);
  REQUIRE(partitions_of(tasks).size() == kReplicatedPartitions);
  sim.schedule(2, sim.now(), in::Submit{7, tasks, true, "job-whole"});
  REQUIRE(sim.run_until([&] { return reply_of(sim, 2, 7) != nullptr; }, sim.now() + 10000, 10));
  const SubmitReply* reply = reply_of(sim, 2, 7);
  CHECK(reply->txn == "job-whole");
  for (const auto& o : reply->outcomes) CHECK_MESSAGE(o.code == ErrorCode::kOk, o.id << ": " << o.message);
  // Answered once every participant prepared, before the resolves apply:
  // a get then waits for them, and finds every task.
  CHECK(stored(sim, tasks) < tasks.size());
  std::set<std::string> ids;
  for (const auto& t : tasks) ids.insert(t.id);
  sim.schedule(3, sim.now(), in::Get{8, GetRequest{{ids.begin(), ids.end()}}});
  REQUIRE(sim.run_until([&] { return reply_of<GetReply>(sim, 3, 8) != nullptr; }, sim.now() + 10000, 1));
  CHECK(reply_of<GetReply>(sim, 3, 8)->records.size() == tasks.size());
  CHECK(reply_of<GetReply>(sim, 3, 8)->missing.empty());
  CHECK(stored(sim, tasks) == tasks.size());
  REQUIRE(sim.run_until([&] { return mesh.settled() && all_terminal(sim, ids); }, sim.now() + 20000, 50));
  sim.run_until(sim.now() + 1000);
  REQUIRE(sim.run_until([&] { return mesh.settled(); }, sim.now() + 20000, 50));
  CHECK(check_task_guarantees(sim, ids).failure == "");
}

TEST_CASE("sim transactions: one refused task aborts the whole job and says which") {
  ReplicatedMesh mesh(12, 5);
  Simulator& sim = mesh.sim;
  REQUIRE(sim.run_until([&] { return mesh.settled(); }, 20000, 50));
  sim.schedule(0, sim.now(), in::Submit{1, job("taken-", 1)});
  REQUIRE(sim.run_until([&] { return acknowledged(sim).count("taken-0"); }, sim.now() + 10000, 10));
  std::vector<TaskSpec> tasks = job("part-", 12);
  tasks.back().id = "taken-0";  // exists already
  sim.schedule(1, sim.now(), in::Submit{2, tasks, true, "job-refused"});
  REQUIRE(sim.run_until([&] { return reply_of(sim, 1, 2) != nullptr; }, sim.now() + 10000, 10));
  const SubmitReply* reply = reply_of(sim, 1, 2);
  for (size_t i = 0; i + 1 < tasks.size(); ++i) CHECK(reply->outcomes[i].code == ErrorCode::kAborted);
  CHECK(reply->outcomes.back().code == ErrorCode::kConflict);
  sim.run_until(sim.now() + 3000);
  CHECK(stored(sim, tasks) == 1);  // taken-0 alone, from before
  for (uint32_t p = 0; p < kReplicatedPartitions; ++p) CHECK_FALSE(holds_intents(*sim.node(*leader_of(sim, p)).table(p)));
}

TEST_CASE("sim transactions: an origin that dies after the prepares leaves nothing: the participants ask, and recovery aborts") {
  ReplicatedMesh mesh(13, 5);
  Simulator& sim = mesh.sim;
  REQUIRE(sim.run_until([&] { return mesh.settled(); }, 20000, 50));
  std::vector<TaskSpec> tasks = job("orphan-", 16);
  size_t origin = leading_nothing(sim);  // its crash takes no leader with it
  sim.schedule(origin, sim.now(), in::Submit{3, tasks, true, "job-orphan"});
  // Crashed once some partition has prepared, before it could decide.
  auto prepared_somewhere = [&] {
    for (uint32_t p = 0; p < kReplicatedPartitions; ++p) {
      if (holds_intents(*sim.node(*leader_of(sim, p)).table(p))) return true;
    }
    return false;
  };
  REQUIRE(sim.run_until(prepared_somewhere, sim.now() + 5000, 1));
  uint64_t first_prepared_at = sim.now();
  std::vector<uint64_t> in_doubt_ms;  // reported by the participants as they resolve
  sim.effects_hook = [&](size_t, Effects& fx) {
    in_doubt_ms.insert(in_doubt_ms.end(), fx.txn_in_doubt_ms.begin(), fx.txn_in_doubt_ms.end());
  };
  sim.crash(origin);
  uint64_t crashed_at = sim.now();
  auto none_prepared = [&] { return !prepared_somewhere(); };
  REQUIRE(sim.run_until(none_prepared, sim.now() + 20000, 10));
  sim.effects_hook = nullptr;
  // Nothing moved until the first participant asked (prepare_timeout_ms);
  // its inquiry recovered the transaction, which resolved every participant.
  REQUIRE_FALSE(in_doubt_ms.empty());
  CHECK(*std::max_element(in_doubt_ms.begin(), in_doubt_ms.end()) >= TxnConfig{}.prepare_timeout_ms);
  CHECK(sim.now() - first_prepared_at >= TxnConfig{}.prepare_timeout_ms);
  uint64_t inquiries = 0, recoveries = 0;
  for (size_t i = 0; i < sim.size(); ++i) {
    if (!sim.alive(i)) continue;
    const auto& counters = sim.node(i).counters();
    if (counters.count("txn_inquiries")) inquiries += counters.at("txn_inquiries");
    if (counters.count("txn_recoveries")) recoveries += counters.at("txn_recoveries");
  }
  CHECK(inquiries > 0);
  CHECK(recoveries > 0);
  CHECK(stored(sim, tasks) == 0);
  MESSAGE("intents released " << sim.now() - crashed_at << " ms after the origin died");
}

TEST_CASE("sim transactions: an origin that dies once every participant prepared beside the stage leaves the job whole") {
  ReplicatedMesh mesh(14, 5);
  Simulator& sim = mesh.sim;
  REQUIRE(sim.run_until([&] { return mesh.settled(); }, 20000, 50));
  std::vector<TaskSpec> tasks = job("staged-", 16);
  std::set<uint32_t> participants = partitions_of(tasks);
  const std::string txn = "job-staged";
  const uint32_t coordinator = partition_of(txn, kReplicatedPartitions);
  size_t origin = leading_nothing(sim);  // its crash takes no leader with it
  sim.schedule(origin, sim.now(), in::Submit{4, tasks, true, txn});
  // The commit point: every prepare and the stage applied. The votes are
  // still on their way to the origin when it dies.
  auto committed_unseen = [&] {
    const TaskTable& c = *sim.node(*leader_of(sim, coordinator)).table(coordinator);
    if (!c.decisions().count(txn) || !c.decisions().at(txn).staged) return false;
    return std::all_of(participants.begin(), participants.end(), [&](uint32_t p) {
      return sim.node(*leader_of(sim, p)).table(p)->prepared().count(txn) > 0;
    });
  };
  REQUIRE(sim.run_until(committed_unseen, sim.now() + 5000, 1));
  sim.crash(origin);
  // The participants ask, the coordinator finds every one prepared: commit.
  REQUIRE(sim.run_until([&] { return stored(sim, tasks) == tasks.size(); }, sim.now() + 20000, 10));
  uint64_t recoveries = 0;
  for (size_t i = 0; i < sim.size(); ++i) {
    if (sim.alive(i) && sim.node(i).counters().count("txn_recoveries")) recoveries += sim.node(i).counters().at("txn_recoveries");
  }
  CHECK(recoveries > 0);
  std::set<std::string> ids;
  for (const auto& t : tasks) ids.insert(t.id);
  REQUIRE(sim.run_until([&] { return mesh.settled() && all_terminal(sim, ids); }, sim.now() + 20000, 50));
  CHECK(check_task_guarantees(sim, ids).failure == "");
}

}  // namespace
}  // namespace mesh::test
