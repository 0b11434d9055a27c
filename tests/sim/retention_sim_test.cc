// Retention under the simulator: finished records and dead letters leave
// every replica once their retention has run out, through the log.
#include "tests/sim/sim_harness.h"

namespace mesh::test {
namespace {

constexpr uint32_t kPartitions = 4;
constexpr uint64_t kFinishedRetentionMs = 5000;
constexpr uint64_t kDeadLetterRetentionMs = 20000;

NodeConfig retention_config(size_t i) {
  NodeConfig config = sim_node_config(i);
  config.handlers.insert("fail");
  config.ring.partitions = kPartitions;
  config.ring.replicas = 3;
  config.replication.snapshot_every = 16;  // purges cross snapshots too
  config.retention.finished_ms = kFinishedRetentionMs;
  config.retention.dead_letter_ms = kDeadLetterRetentionMs;
  config.retention.purge_interval_ms = 200;
  config.retention.purge_batch_max = 7;  // several purges per partition
  return config;
}

std::vector<TaskSpec> tasks(const std::string& prefix, const std::string& handler, size_t n) {
  std::vector<TaskSpec> out;
  for (size_t i = 0; i < n; ++i) {
    TaskSpec t;
    t.id = prefix + std::to_string(i);
    t.handler = handler;
    t.max_attempts = 1;
    out.push_back(std::move(t));
  }
  return out;
}

// How many of `ids` each partition replica holds, summed over every live
// node, and how many replicas were looked at.
struct Held {
  size_t records = 0;
  size_t replicas = 0;
};
Held held(const Simulator& sim, const std::set<std::string>& ids) {
  Held h;
  for (size_t i = 0; i < sim.size(); ++i) {
    for (uint32_t p = 0; p < kPartitions; ++p) {
      const TaskTable* table = sim.node(i).table(p);
      if (table == nullptr) continue;
      ++h.replicas;
      for (const auto& id : ids) h.records += table->find(id) != nullptr;
    }
  }
  return h;
}

bool settled(const Simulator& sim) {
  for (uint32_t p = 0; p < kPartitions; ++p) {
    auto l = leader_of(sim, p);
    if (!l || sim.node(*l).group(p)->voters().size() != 3) return false;
  }
  return true;
}

// Starts a 3-node mesh (R = 3) with the retention settings above.
void start_mesh(Simulator& sim) {
  for (size_t i = 0; i < 3; ++i) sim.add_node(retention_config(i));
  sim.join(0, {}, 0);
  for (size_t i = 1; i < 3; ++i) sim.join(i, {Simulator::address_of("n0")}, i * 20);
  REQUIRE(sim.run_until([&] { return settled(sim); }, 20000, 50));
}

TEST_CASE("sim retention: finished records, then dead letters, leave every replica after their retention") {
  Simulator sim(/*seed=*/11, NetworkFaults{});
  start_mesh(sim);
  sim.schedule(1, sim.now(), in::Submit{1, tasks("ok-", "noop", 30)});
  sim.schedule(2, sim.now(), in::Submit{2, tasks("dead-", "fail", 10)});
  std::set<std::string> done, dead;
  for (int i = 0; i < 30; ++i) done.insert("ok-" + std::to_string(i));
  for (int i = 0; i < 10; ++i) dead.insert("dead-" + std::to_string(i));
  std::set<std::string> all = done;
  all.insert(dead.begin(), dead.end());
  // Every replica holds every record once they have finished (R = 3 of 3 nodes).
  REQUIRE(sim.run_until([&] { return all_terminal(sim, all) && held(sim, all).records == 3 * all.size(); },
                        sim.now() + 10000, 10));
  uint64_t finished_at = sim.now();
  CHECK(held(sim, all).replicas == 3 * kPartitions);
  for (const auto& id : dead) CHECK(leader_record(sim, id)->state == TaskState::kFailed);

  // Before the retention has run out, nothing goes.
  sim.run_until(finished_at + kFinishedRetentionMs / 2);
  CHECK(held(sim, all).records == 3 * all.size());
  // After it, the finished records leave every replica; the dead letters stay.
  auto gone = sim.run_until([&] { return held(sim, done).records == 0; }, finished_at + 2 * kFinishedRetentionMs, 50);
  CHECK_MESSAGE(gone, "records of finished tasks still held: " << held(sim, done).records);
  CHECK(held(sim, dead).records == 3 * dead.size());
  // Then the dead letters leave too.
  gone = sim.run_until([&] { return held(sim, dead).records == 0; }, finished_at + 2 * kDeadLetterRetentionMs, 50);
  CHECK_MESSAGE(gone, "dead letters still held: " << held(sim, dead).records);
  uint64_t purged = 0;
  for (size_t i = 0; i < sim.size(); ++i) {
    auto it = sim.node(i).counters().find("tasks_purged");
    if (it != sim.node(i).counters().end()) purged += it->second;
  }
  CHECK(purged == 3 * all.size());  // every replica removed each record once
  // A purged id is free again: submitting it makes a new task.
  sim.schedule(0, sim.now(), in::Submit{3, tasks("ok-", "noop", 1)});
  REQUIRE(sim.run_until([&] { return all_terminal(sim, {"ok-0"}); }, sim.now() + 10000, 10));
  CHECK(leader_record(sim, "ok-0")->attempt == 1);
  CHECK(leader_record(sim, "ok-0")->submitted_ms > finished_at);
}

const RetryReply* retry_reply(const Simulator& sim, size_t node, RequestRef request) {
  for (const auto& r : sim.replies(node)) {
    if (r.request == request) return std::get_if<RetryReply>(&r.reply);
  }
  return nullptr;
}

TEST_CASE("sim retention: a retried dead letter runs again on every replica, numbered after its attempts") {
  Simulator sim(/*seed=*/12, NetworkFaults{});
  start_mesh(sim);
  sim.schedule(1, sim.now(), in::Submit{1, tasks("dead-", "fail", 6)});
  std::set<std::string> dead;
  for (int i = 0; i < 6; ++i) dead.insert("dead-" + std::to_string(i));
  REQUIRE(sim.run_until([&] { return all_terminal(sim, dead); }, sim.now() + 10000, 10));
  // One by id, the rest as "every dead letter"; an unknown id is not found.
  sim.schedule(0, sim.now(), in::Retry{2, RetryRequest{{"dead-0", "nobody"}, false}});
  REQUIRE(sim.run_until([&] { return retry_reply(sim, 0, 2) != nullptr; }, sim.now() + 10000, 10));
  const RetryReply& by_id = *retry_reply(sim, 0, 2);
  REQUIRE(by_id.outcomes.size() == 2);
  CHECK(by_id.outcomes[0].code == ErrorCode::kOk);
  CHECK(by_id.outcomes[1].code == ErrorCode::kNotFound);
  REQUIRE(sim.run_until([&] { return leader_record(sim, "dead-0")->attempt == 2 && all_terminal(sim, dead); },
                        sim.now() + 10000, 10));
  sim.schedule(2, sim.now(), in::Retry{3, RetryRequest{{}, true}});
  REQUIRE(sim.run_until([&] { return retry_reply(sim, 2, 3) != nullptr; }, sim.now() + 10000, 10));
  CHECK(retry_reply(sim, 2, 3)->outcomes.size() == dead.size());
  REQUIRE(sim.run_until(
      [&] {
        for (const auto& id : dead) {
          if (leader_record(sim, id)->attempt < 2) return false;
        }
        return all_terminal(sim, dead);
      },
      sim.now() + 10000, 10));
  sim.run_until(sim.now() + 1000);
  GuaranteeCheck guarantees = check_task_guarantees(sim, dead);
  CHECK(guarantees.failure == "");
  CHECK(guarantees.replicas_compared > 0);
  for (const auto& id : dead) {
    const TaskRecord& r = *leader_record(sim, id);
    CHECK(r.state == TaskState::kFailed);  // the sim's "fail" fails every attempt
    CHECK(r.failures == 1);                // a fresh budget of one, spent again
    CHECK(r.attempts.size() == r.attempt);
  }
  CHECK(leader_record(sim, "dead-0")->attempt == 3);
  CHECK(held(sim, dead).records == 3 * dead.size());
}

}  // namespace
}  // namespace mesh::test
