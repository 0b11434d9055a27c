// The transactions scenario (scenario.h): 5 nodes, R = 3, clients submitting
// atomic jobs spread over partitions while the seed crashes nodes (the
// coordinator partition's leader often right after a submit, at any step of
// the protocol), restarts them, cuts the network and drops, duplicates and
// reorders messages; then every fault is lifted and DESIGN §7 guarantee 5 is
// checked beside 1-4: each job is stored whole or not at all, its answer says
// which, and no prepared intent stays in doubt. Half the jobs chain their
// tasks (TaskSpec::after), some to a task outside the job, some through a
// task that fails: every child of a stored job ends with exactly its
// parents' results as inputs, or upstream_failed without having run. Now
// and then a client cancels an earlier job whole (CancelRequest::job): a
// committed cancel leaves no task of the job unfinished and says truly which
// it took; an aborted one took none.
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
  size_t cancels_asked = 0;         // requests to cancel it, answered or not
};

// Client requests to cancel a job are numbered from here, by job index.
constexpr RequestRef kCancelRefs = 2000000;

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
    if (job.cancels_asked != 0) continue;  // a child may be cancelled instead (check_job_cancels)
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

// Every answer to a job cancel against the job's final records: a committed
// cancel (a CancelReply) names every task of the job, each it took is
// CANCELLED and each other was finished already, as it says; where no cancel
// of a job committed or may have, none of its tasks is CANCELLED.
std::string check_job_cancels(const Simulator& sim, const std::vector<Job>& jobs, SeedCounts& totals) {
  std::vector<size_t> committed(jobs.size()), unknown(jobs.size()), answered(jobs.size());
  for (size_t i = 0; i < sim.size(); ++i) {
    for (const auto& r : sim.replies(i)) {
      if (r.request < kCancelRefs || r.request >= kCancelRefs + jobs.size()) continue;
      const Job& job = jobs[r.request - kCancelRefs];
      ++answered[r.request - kCancelRefs];
      if (const auto* error = std::get_if<ErrorReply>(&r.reply)) {
        bool none_prepared = error->message.rfind("nothing was cancelled", 0) == 0;
        unknown[r.request - kCancelRefs] += error->code == ErrorCode::kUnavailable && !none_prepared;
        ++totals["job_cancels_" + std::string(error_name(error->code))];
        continue;
      }
      const auto* reply = std::get_if<CancelReply>(&r.reply);
      if (reply == nullptr) return "a cancel of job " + job.txn + " got an answer of another kind";
      ++committed[r.request - kCancelRefs];
      ++totals["job_cancels_committed"];
      if (reply->outcomes.size() != job.ids.size()) {
        return "the cancel of job " + job.txn + " names " + std::to_string(reply->outcomes.size()) + " of its " +
               std::to_string(job.ids.size()) + " tasks";
      }
      for (const auto& o : reply->outcomes) {
        const TaskRecord* record = leader_record(sim, o.id);
        if (record == nullptr) return "task " + o.id + " a cancel of job " + job.txn + " names is not stored";
        bool took = o.code == ErrorCode::kOk;
        if (took ? record->state != TaskState::kCancelled : !is_terminal(o.state) || record->state != o.state) {
          return "the cancel of job " + job.txn + " says task " + o.id + " was " + (took ? "cancelled" : "finished") +
                 " (" + std::string(state_name(o.state)) + "), but it is " + std::string(state_name(record->state));
        }
        totals["tasks_cancelled_with_their_job"] += took;
      }
    }
  }
  for (size_t j = 0; j < jobs.size(); ++j) {
    // An origin that died unanswered may have committed its cancel.
    if (committed[j] != 0 || unknown[j] != 0 || answered[j] < jobs[j].cancels_asked) continue;
    for (const auto& id : jobs[j].ids) {
      const TaskRecord* record = leader_record(sim, id);
      if (record != nullptr && record->state == TaskState::kCancelled) {
        return "task " + id + " is CANCELLED, but no cancel of job " + jobs[j].txn + " committed";
      }
    }
  }
  return {};
}

// On a healed mesh: two long jobs stored whole, then cancelled while they
// run, each through any node; now and then a node (maybe the cancel's
// origin or coordinator) dies mid-cancel and comes back.
std::string cancel_running_jobs(Simulator& sim, SimRandom& chaos, std::vector<Job>& jobs, SeedCounts& totals) {
  size_t first = jobs.size();
  for (size_t k = 0; k < 2; ++k) {
    Job job{"calm" + std::to_string(k), {}, {}, 1};
    std::vector<TaskSpec> tasks = sleep_batch(job.txn + "-", 4 + chaos.uniform(5), 2000 + chaos.uniform(1000));
    for (auto& t : tasks) {
      t.timeout_ms = 20000;  // never the reason a run ends
      job.ids.push_back(t.id);
    }
    sim.schedule(chaos.uniform(sim.size()), sim.now(), in::Submit{jobs.size() + 1, tasks, true, job.txn});
    jobs.push_back(std::move(job));
  }
  auto stored = [&] { return answers(sim).count("calm0") && answers(sim).count("calm1"); };
  if (!sim.run_until(stored, sim.now() + 10000, 10)) return "the long jobs were not answered on a healed mesh";
  sim.run_until(sim.now() + chaos.uniform(500));
  for (size_t j = first; j < jobs.size(); ++j) {
    sim.schedule(chaos.uniform(sim.size()), sim.now(), in::Cancel{kCancelRefs + j, {}, jobs[j].txn});
  }
  if (chaos.uniform(2) == 0) {
    sim.run_until(sim.now() + chaos.uniform(80));
    size_t victim = chaos.uniform(sim.size());
    sim.crash(victim);
    sim.run_until(sim.now() + 1000);
    sim.restart(victim);
    ++totals["crashes_mid_cancel"];
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
      // Some jobs run long enough for a cancel to find them unfinished.
      // They are not chained: a long task may lose max_lost_attempts
      // runners to the crashes and fail, and its children with it.
      bool long_running = chaos.uniform(4) == 0;
      uint64_t run_ms = long_running ? 1000 + chaos.uniform(2000) : 5 + chaos.uniform(30);
      std::vector<TaskSpec> tasks = sleep_batch(job.txn + "-", 3 + chaos.uniform(6), run_ms);
      if (long_running) {
        for (auto& t : tasks) t.timeout_ms = 20000;
      }
      if (!long_running && chaos.uniform(2) == 0) add_dependencies(tasks, chaos);
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
    // A client cancels an earlier job whole, through any node.
    if (!jobs.empty() && chaos.uniform(5) == 0) {
      size_t j = jobs.size() - 1 - chaos.uniform(std::min<size_t>(jobs.size(), 4));  // a recent one
      size_t via = chaos.uniform(n);
      if (sim.alive(via)) {
        ++jobs[j].cancels_asked;
        sim.schedule(via, sim.now(), in::Cancel{kCancelRefs + j, {}, jobs[j].txn});
      }
    }
    random_fault(sim, chaos, totals, [&](size_t victim, size_t) { sim.restart(victim); });
  }
  lift_faults(sim);
  if (!sim.run_until(settled, sim.now() + 60000, 50)) return "the mesh did not settle after the faults were lifted" + unsettled_partitions(sim);
  if (std::string bad = cancel_running_jobs(sim, chaos, jobs, totals); !bad.empty()) return bad;
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
  if (std::string bad = check_job_cancels(sim, jobs, totals); !bad.empty()) return bad;
  if (!sim.wire_failure().empty()) return "a message did not survive the codec: " + sim.wire_failure();
  totals["jobs"] += jobs.size();
  add_node_counters(sim, {"txns_committed", "txns_aborted", "txn_inquiries", "backup_attempts_started", "runs_fenced"},
                    totals);
  return {};
}

}  // namespace

SeedRun run_transactions_seed(uint64_t seed) {
  SeedRun run;
  run.failure = transactions_chaos(seed, run.counts);
  return run;
}

}  // namespace mesh
