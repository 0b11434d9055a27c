// The transactions scenario (scenario.h): 5 nodes, R = 3, clients submitting
// atomic jobs spread over partitions while the seed crashes nodes (the
// coordinator partition's leader often right after a submit, at any step of
// the protocol), restarts them, cuts the network and drops, duplicates and
// reorders messages; then every fault is lifted and DESIGN §7 guarantee 5 is
// checked beside 1-4: each job is stored whole or not at all, its answer says
// which, and no prepared intent stays in doubt. Half the jobs chain their
// tasks (TaskSpec::after), some to a task outside the job, some through a
// task that fails: every child of a stored job ends with exactly its
// parents' results as inputs, or upstream_failed without having run.
#include <algorithm>

#include "node/sim/scenario.h"
#include "node/core/partitioning.h"
#include "node/sim/mesh_checks.h"
#include "node/sim/replication_scenario.h"
#include "node/sim/sim_random.h"

namespace mesh {

namespace {

NodeConfig transaction_config(size_t i) {
  NodeConfig config = replicated_config(i);
  config.transactions.prepare_timeout_ms = 1000;
  config.transactions.resend_ms = 200;
  config.transactions.keep_decision_ms = 6000;  // past the request deadline (5 s)
  config.handlers.insert("fail");  // a parent that fails its children
  return config;
}

struct Job {
  std::string txn;
  std::vector<std::string> ids;
  std::vector<TaskSpec> dependent;  // its tasks that name parents
};

// The transaction each node's client was answered about, and how.
std::map<std::string, ErrorCode> answers(const Simulator& sim) {
  std::map<std::string, ErrorCode> out;
  for (size_t i = 0; i < sim.size(); ++i) {
    for (const auto& r : sim.replies(i)) {
      const auto* submit = std::get_if<SubmitReply>(&r.reply);
      if (submit == nullptr || submit->txn.empty() || submit->outcomes.empty()) continue;
      bool all_ok = std::all_of(submit->outcomes.begin(), submit->outcomes.end(),
                                [](const SubmitOutcome& o) { return o.code == ErrorCode::kOk; });
      ErrorCode code = all_ok ? ErrorCode::kOk : ErrorCode::kAborted;
      for (const auto& o : submit->outcomes) {
        if (o.code == ErrorCode::kUnavailable) code = ErrorCode::kUnavailable;
      }
      out[submit->txn] = code;
    }
  }
  return out;
}

// Guarantee 5 at the partitions' leaders, and each answer against it.
std::string check_atomicity(const Simulator& sim, const std::vector<Job>& jobs, SeedCounts& totals) {
  std::map<std::string, ErrorCode> answered = answers(sim);
  for (const auto& job : jobs) {
    size_t stored = 0;
    for (const auto& id : job.ids) stored += leader_record(sim, id) != nullptr;
    if (stored != 0 && stored != job.ids.size()) {
      return "transaction " + job.txn + " is half applied: " + std::to_string(stored) + " of " +
             std::to_string(job.ids.size()) + " tasks stored\n" +
             describe_partition(sim, partition_of(job.ids[0], kReplicatedPartitions), job.ids[0]);
    }
    auto answer = answered.find(job.txn);
    if (answer == answered.end()) continue;
    if (answer->second == ErrorCode::kOk && stored == 0) return "transaction " + job.txn + " was answered ok but is not stored";
    if (answer->second == ErrorCode::kAborted && stored != 0) return "transaction " + job.txn + " was answered aborted but is stored";
    totals[stored ? "txns_stored" : "txns_not_stored"] += 1;
    totals[answer->second == ErrorCode::kOk ? "txns_answered_committed" : "txns_answered_aborted"] +=
        answer->second != ErrorCode::kUnavailable;
  }
  return {};
}

// Nothing in doubt, nothing remembered past its time: on every live voter
// of every partition (a replica removed from its group keeps what it had).
std::string check_settled_transactions(const Simulator& sim) {
  for (uint32_t p = 0; p < kReplicatedPartitions; ++p) {
    auto leader = leader_of(sim, p);
    if (!leader) return "partition " + std::to_string(p) + " has no leader";
    const auto& voters = sim.node(*leader).group(p)->voters();
    for (size_t i = 0; i < sim.size(); ++i) {
      if (!sim.alive(i)) continue;
      if (std::find(voters.begin(), voters.end(), sim.node(i).replica_id()) == voters.end()) continue;
      const TaskTable* table = sim.node(i).table(p);
      if (table == nullptr) continue;
      if (!table->prepared().empty()) {
        return "n" + std::to_string(i) + " still holds transaction " + table->prepared().begin()->first +
               " prepared on partition " + std::to_string(p) + "\n" + describe_partition(sim, p);
      }
      if (!table->decisions().empty()) {
        return "n" + std::to_string(i) + " still remembers the decision of " + table->decisions().begin()->first +
               " on partition " + std::to_string(p);
      }
    }
  }
  return {};
}

constexpr size_t kTaken = 5;

// Chains some of a job's tasks: each may wait for an earlier one of the job
// or for a task stored before the jobs; now and then a parent always fails.
void add_dependencies(std::vector<TaskSpec>& tasks, SimRandom& chaos) {
  for (size_t t = 1; t < tasks.size(); ++t) {
    if (chaos.uniform(2) == 0) tasks[t].after.push_back(ParentRef{tasks[chaos.uniform(t)].id, ""});
    if (chaos.uniform(4) == 0) tasks[t].after.push_back(ParentRef{"taken-" + std::to_string(chaos.uniform(kTaken)), ""});
  }
  if (chaos.uniform(4) == 0) {
    tasks[0].handler = "fail";
    tasks[0].max_attempts = 2;
  }
}

// What a child's run must have been given, and how it must have ended.
std::string check_dependencies(const Simulator& sim, const std::vector<Job>& jobs, SeedCounts& totals) {
  for (const auto& job : jobs) {
    for (const auto& spec : job.dependent) {
      const TaskRecord* child = leader_record(sim, spec.id);
      if (child == nullptr) continue;  // the job was not stored
      std::string inputs;
      bool upstream_failed = false;
      for (const auto& parent : spec.after) {
        const TaskRecord* p = leader_record(sim, parent.id);
        if (p == nullptr) return "parent " + parent.id + " of stored task " + spec.id + " is not stored";
        if (!is_terminal(p->state)) return "parent " + parent.id + " of " + spec.id + " is still " + state_name(p->state);
        upstream_failed = upstream_failed || p->state != TaskState::kCompleted;
        inputs += p->result + "|";
      }
      if (upstream_failed) {
        if (child->state != TaskState::kFailed || child->error.rfind("upstream_failed", 0) != 0 || !child->attempts.empty()) {
          return "task " + spec.id + " has a failed parent but ended " + state_name(child->state) + " after " +
                 std::to_string(child->attempts.size()) + " attempts: " + child->error;
        }
        ++totals["dependents_failed_upstream"];
        continue;
      }
      std::string expected = "sim:" + spec.id + "<" + inputs + ">";
      if (child->state != TaskState::kCompleted || child->result != expected) {
        return "task " + spec.id + " ended " + state_name(child->state) + " with '" + child->result + "', expected '" +
               expected + "' (error: " + child->error + ", attempts " + std::to_string(child->attempts.size()) + ")";
      }
      ++totals["dependents_completed"];
    }
  }
  return {};
}

std::string transactions_chaos(uint64_t seed, SeedCounts& totals) {
  const size_t n = 5;
  ReplicatedMesh mesh(seed, n, NetworkFaults{1, 15, 0.03, 0.03}, transaction_config);
  Simulator& sim = mesh.sim;
  auto settled = [&] { return mesh.settled(); };
  SimRandom chaos(derive_seed(seed, 91));
  totals["seeds_with_skewed_clocks"] += skew_clocks_on_odd_seeds(sim, seed);
  if (!sim.run_until(settled, 20000, 50)) return "the mesh did not settle after joining";
  // Stored before the jobs, plainly: a job naming one of them is refused.
  std::vector<TaskSpec> taken = sleep_batch("taken-", kTaken, 1);
  sim.schedule(0, sim.now(), in::Submit{1000000, taken});
  auto all_taken = [&] { return acknowledged(sim).size() == kTaken; };
  if (!sim.run_until(all_taken, sim.now() + 10000, 10)) return "the plain submit before the jobs was not acknowledged";
  std::vector<Job> jobs;
  uint64_t chaos_end = sim.now() + 6000;
  while (sim.now() < chaos_end) {
    sim.run_until(sim.now() + 50 + chaos.uniform(250));
    size_t down = 0;
    for (size_t i = 0; i < n; ++i) down += !sim.alive(i);
    size_t origin = chaos.uniform(n);
    if (sim.alive(origin)) {
      Job job{"x" + std::to_string(jobs.size()), {}, {}};
      std::vector<TaskSpec> tasks = sleep_batch(job.txn + "-", 3 + chaos.uniform(6), 5 + chaos.uniform(30));
      if (chaos.uniform(2) == 0) add_dependencies(tasks, chaos);
      // Now and then a task that must be refused: its id belongs to an
      // earlier job (stored, or not) or its handler is unknown.
      bool borrowed = chaos.uniform(6) == 0;
      if (borrowed) tasks.back().id = "taken-" + std::to_string(chaos.uniform(kTaken));
      if (chaos.uniform(12) == 0) tasks.back().handler = "no-such-handler";
      for (size_t t = 0; t + borrowed < tasks.size(); ++t) job.ids.push_back(tasks[t].id);  // its own ids
      for (const auto& t : tasks) {
        if (!t.after.empty() && t.id.rfind("taken-", 0) != 0) job.dependent.push_back(t);
      }
      sim.schedule(origin, sim.now(), in::Submit{jobs.size() + 1, tasks, true, job.txn});
      uint32_t coordinator = partition_of(job.txn, kReplicatedPartitions);
      jobs.push_back(std::move(job));
      // The coordinator partition's leader dies at some step of the protocol.
      if (chaos.uniform(3) == 0 && down < 2) {
        sim.run_until(sim.now() + chaos.uniform(60));
        if (auto leader = leader_of(sim, coordinator)) {
          sim.crash(*leader);
          ++totals["coordinator_crashes"];
          continue;
        }
      }
    }
    random_fault(sim, chaos, totals, [&](size_t victim, size_t) { sim.restart(victim); });
  }
  lift_faults(sim);
  if (!sim.run_until(settled, sim.now() + 60000, 50)) return "the mesh did not settle after the faults were lifted" + unsettled_partitions(sim);
  // Origins answer by their deadline; intents in doubt are asked about
  // after prepare_timeout; decisions are forgotten keep_decision_ms after
  // their last participant resolved them.
  const TxnConfig txn = transaction_config(0).transactions;
  sim.run_until(sim.now() + 2 * txn.prepare_timeout_ms + txn.keep_decision_ms + 2000);
  if (!sim.run_until([&] { return settled() && check_settled_transactions(sim).empty(); }, sim.now() + 30000, 50)) {
    return check_settled_transactions(sim);
  }
  SeedCounts first_look;  // counted at the second look, once all is quiet
  if (std::string bad = check_atomicity(sim, jobs, first_look); !bad.empty()) return bad;
  std::set<std::string> ids = acknowledged(sim);
  if (!sim.run_until([&] { return settled() && all_terminal(sim, ids); }, sim.now() + 60000, 50)) {
    return "acknowledged tasks did not all finish" + unsettled_partitions(sim);
  }
  sim.run_until(sim.now() + 2000);
  if (!ids.empty()) {
    GuaranteeCheck check = check_task_guarantees(sim, ids);
    if (!check.failure.empty()) return check.failure;
    totals["replicas_compared"] += check.replicas_compared;
  }
  if (std::string bad = check_atomicity(sim, jobs, totals); !bad.empty()) return bad;
  if (std::string bad = check_dependencies(sim, jobs, totals); !bad.empty()) return bad;
  if (!sim.wire_failure().empty()) return "a message did not survive the codec: " + sim.wire_failure();
  totals["jobs"] += jobs.size();
  add_node_counters(sim, {"txns_committed", "txns_aborted", "txn_inquiries"}, totals);
  return {};
}

}  // namespace

SeedRun run_transactions_seed(uint64_t seed) {
  SeedRun run;
  run.failure = transactions_chaos(seed, run.counts);
  return run;
}

}  // namespace mesh
