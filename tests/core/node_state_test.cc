// NodeState on a single node: it founds a mesh of its own, so it is the only
// voter and the leader of every partition group, and a request is routed,
// proposed, committed and applied within the step that brings it.
#include "node/core/node_state.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "node/core/partitioning.h"
#include "node/core/task_table.h"
#include "node/sim/sim_disk.h"
#include "protocol/codec.h"
#include "protocol/limits.h"
#include "test_random.h"

namespace mesh {
namespace {

constexpr uint64_t kTtl = 10000;
constexpr uint64_t kAging = 1000;
constexpr uint32_t kPartitions = 16;
// Raft heartbeats, group reconciliation and membership probes are pushed this
// far out (or further) by make_config, so that every wake-up before it is a
// task deadline: a backoff, a lease, a timeout or a wait.
constexpr uint64_t kFar = 500'000'000;

NodeConfig make_config(uint32_t slots = 2) {
  NodeConfig config;
  config.node_id = "node-1";
  config.slots = slots;
  // Dispatch one lease per free slot, so each test sees exactly which task
  // runs; leasing ahead has tests of its own.
  config.lease_ahead_max = 0;
  config.lease_ttl_ms = kTtl;
  config.aging_interval_ms = kAging;
  config.handlers = {"echo", "work"};
  config.ring.partitions = kPartitions;
  config.replication.heartbeat_interval_ms = 2 * kFar;
  config.replication.election_timeout_ms = 4 * kFar;
  config.replication.reconcile_interval_ms = 2 * kFar;
  config.membership.probe_interval_ms = 2 * kFar;
  config.membership.probe_timeout_ms = 2 * kFar;
  config.membership.sync_interval_ms = 2 * kFar;
  return config;
}

TaskSpec make_spec(const std::string& id, int32_t priority = 0) {
  TaskSpec spec;
  spec.id = id;
  spec.handler = "echo";
  spec.payload = "p-" + id;
  spec.priority = priority;
  spec.max_attempts = 3;
  spec.backoff_base_ms = 100;
  spec.backoff_max_ms = 1000;
  spec.timeout_ms = 60000;
  return spec;
}

// FIFO among equal priorities holds within one partition: commits of
// different partitions are applied in partition order within a step. Tasks
// whose relative order a test checks share a key, hence a partition.
TaskSpec keyed(TaskSpec spec, const std::string& key = "fifo") {
  spec.key = key;
  return spec;
}

// Drives one NodeState with a fixed-seed random source. Every step names its
// instant explicitly; nothing reads a clock. Every step's effects are
// persisted to a SimDisk, so that restart() can bring the node back the way
// a crashed process comes back: from its Raft disk.
class Node {
 public:
  explicit Node(NodeConfig config = make_config(), uint64_t seed = 42)
      : config_(std::move(config)), random_(seed), state_(std::make_unique<NodeState>(config_, random_)) {
    // No seeds: found a new mesh, leading every partition from this step on.
    at(0, in::Join{});
    for (uint32_t p = 0; p < config_.ring.partitions; ++p) REQUIRE(state_->leads(p));
  }

  Effects at(uint64_t now_ms, InputEvent event) {
    Effects fx = state_->step(Input{now_ms, std::move(event)});
    disk_.persist(fx);
    // Alone in its mesh: nobody to send anything to.
    CHECK(fx.sends.empty());
    return fx;
  }

  Effects submit(uint64_t now_ms, std::vector<TaskSpec> specs, RequestRef request = 1) {
    return at(now_ms, in::Submit{request, std::move(specs)});
  }
  Effects finish(uint64_t now_ms, const std::string& id, uint32_t attempt, bool ok = true,
                 std::string output = "out") {
    return at(now_ms, in::TaskFinished{partition(id), id, attempt, ok, std::move(output)});
  }
  // The partition of the task `id` on this node (its id's when unknown).
  uint32_t partition(const std::string& id) const {
    const TaskRecord* r = state_->find(id);
    return r != nullptr ? r->partition : partition_of(id, config_.ring.partitions);
  }
  RunRef ref(const std::string& id, uint32_t attempt) const { return RunRef{partition(id), id, attempt}; }
  Effects tick(uint64_t now_ms) { return at(now_ms, in::Tick{}); }
  Effects cancel(uint64_t now_ms, std::vector<std::string> ids, RequestRef request = 1) {
    return at(now_ms, in::Cancel{request, std::move(ids)});
  }
  Effects wait(uint64_t now_ms, std::vector<std::string> ids, uint64_t timeout_ms, RequestRef request = 9,
               bool all = false) {
    return at(now_ms, in::Wait{request, WaitRequest{std::move(ids), all, timeout_ms}});
  }
  Effects wait_all(uint64_t now_ms, uint64_t timeout_ms, RequestRef request = 9) {
    return wait(now_ms, {}, timeout_ms, request, true);
  }
  Effects get(uint64_t now_ms, std::vector<std::string> ids, RequestRef request = 5) {
    return at(now_ms, in::Get{request, GetRequest{std::move(ids)}});
  }
  Effects list(uint64_t now_ms, ListRequest query, RequestRef request = 6) {
    return at(now_ms, in::List{request, std::move(query)});
  }

  // The process dies and comes back with the same configuration and disk:
  // it recovers every partition group, then joins, leading them again.
  // Returns the effects of the join step.
  Effects restart(uint64_t now_ms) {
    state_ = std::make_unique<NodeState>(config_, random_);
    Effects recovered = at(now_ms, in::Recover{disk_.groups(config_.ring.partitions)});
    CHECK(recovered.replies.empty());
    CHECK(recovered.runs.empty());
    return rejoin(now_ms);
  }
  // A restart from a disk the test has altered (the node's own is left as it was).
  Effects recover_from(uint64_t now_ms, std::map<uint32_t, RaftDisk> groups) {
    state_ = std::make_unique<NodeState>(config_, random_);
    return at(now_ms, in::Recover{std::move(groups)});
  }
  // The join step alone, after a recovery.
  Effects recover_only(uint64_t now_ms) {
    state_ = std::make_unique<NodeState>(config_, random_);
    return at(now_ms, in::Recover{disk_.groups(config_.ring.partitions)});
  }
  Effects rejoin(uint64_t now_ms) {
    Effects joined = at(now_ms, in::Join{});
    for (uint32_t p = 0; p < config_.ring.partitions; ++p) REQUIRE(state_->leads(p));
    return joined;
  }

  const TaskRecord& record(const std::string& id) const {
    const TaskRecord* r = state_->find(id);
    REQUIRE_MESSAGE(r != nullptr, "no record " << id);
    return *r;
  }
  // Records over every partition table of this node.
  size_t records() const {
    size_t n = 0;
    for (uint32_t p = 0; p < config_.ring.partitions; ++p) {
      if (const TaskTable* t = state_->table(p)) n += t->records().size();
    }
    return n;
  }
  uint64_t counter(const std::string& name) const {
    auto it = state_->counters().find(name);
    return it == state_->counters().end() ? 0 : it->second;
  }
  NodeState& state() { return *state_; }
  SimDisk& disk() { return disk_; }

 private:
  NodeConfig config_;
  testing::SplitMix64 random_;
  SimDisk disk_;
  std::unique_ptr<NodeState> state_;
};

// Compact renderings of effects, readable in failure output.
std::string runs(const Effects& fx) {
  std::string s;
  for (const auto& r : fx.runs) s += (s.empty() ? "" : ",") + r.id + ":" + std::to_string(r.attempt);
  return s;
}
std::string aborts(const Effects& fx) {
  std::string s;
  for (const auto& a : fx.aborts) s += (s.empty() ? "" : ",") + a.id + ":" + std::to_string(a.attempt);
  return s;
}
template <typename Records>
std::string ids_of(const Records& records) {
  std::string s;
  for (const auto& r : records) s += (s.empty() ? "" : ",") + r.spec.id;
  return s;
}
// The task ops a step persisted, in log order.
std::vector<TaskOp> written_ops(const Effects& fx) {
  std::vector<TaskOp> ops;
  for (const auto& w : fx.raft_writes) {
    for (const auto& entry : w.ready.entries) {
      if (entry.type != EntryType::kNormal) continue;
      auto decoded = decode_ops(entry.data);
      REQUIRE(decoded.ok());
      for (auto& op : decoded.value()) ops.push_back(std::move(op));
    }
  }
  return ops;
}
// The ids of the tasks whose ops a step persisted, sorted, each once.
std::string written(const Effects& fx) {
  std::set<std::string> ids;
  for (const auto& op : written_ops(fx)) ids.insert(op_task_id(op));
  std::string s;
  for (const auto& id : ids) s += (s.empty() ? "" : ",") + id;
  return s;
}
// The next task deadline the step asks to be woken for; the Raft,
// reconciliation and membership timers (all at kFar or later) do not count.
std::optional<uint64_t> wake(const Effects& fx) {
  if (!fx.wake_at_ms || *fx.wake_at_ms >= kFar) return std::nullopt;
  return fx.wake_at_ms;
}

// The single reply of a step, which must be a T. Returned by value so that
// callers may pass a temporary Effects.
template <typename T>
T reply(const Effects& fx, RequestRef request) {
  REQUIRE(fx.replies.size() == 1);
  CHECK(fx.replies[0].request == request);
  REQUIRE(std::holds_alternative<T>(fx.replies[0].reply));
  return std::get<T>(fx.replies[0].reply);
}

SubmitOutcome submit_outcome(const Effects& fx, size_t i = 0) {
  SubmitReply r = reply<SubmitReply>(fx, 1);
  REQUIRE(r.outcomes.size() > i);
  return r.outcomes[i];
}

// --- founding ---------------------------------------------------------------------

TEST_CASE("node: joining without seeds founds a mesh led entirely by this node") {
  testing::SplitMix64 random(42);
  NodeState state(make_config(), random);
  for (uint32_t p = 0; p < kPartitions; ++p) CHECK_FALSE(state.leads(p));
  // Not joined yet: nothing leads the task's partition, so no answer comes.
  Effects early = state.step(Input{0, in::Submit{1, {make_spec("a")}}});
  CHECK(early.replies.empty());
  CHECK(early.runs.empty());

  Effects fx = state.step(Input{0, in::Join{}});
  CHECK(fx.persists());  // every group's founding configuration
  for (uint32_t p = 0; p < kPartitions; ++p) {
    CHECK(state.leads(p));
    REQUIRE(state.table(p) != nullptr);
  }
  CHECK(state.gauges().at("partitions_led") == kPartitions);
  CHECK(state.gauges().at("partitions_hosted") == kPartitions);
  CHECK(state.table(kPartitions) == nullptr);

  // The early submit is routed again after a pause, to the leader there is now.
  Effects later = state.step(Input{fx.wake_at_ms.value(), in::Tick{}});
  SubmitReply r = reply<SubmitReply>(later, 1);
  REQUIRE(r.outcomes.size() == 1);
  CHECK(r.outcomes[0].code == ErrorCode::kOk);
  CHECK(runs(later) == "a:1");
}

// --- submit and dispatch ---------------------------------------------------------

TEST_CASE("node: submit stores tasks and leases as many as there are slots") {
  Node n(make_config(2));
  Effects fx = n.submit(0, {keyed(make_spec("a")), keyed(make_spec("b")), keyed(make_spec("c"))});

  const auto& r = reply<SubmitReply>(fx, 1);
  REQUIRE(r.outcomes.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(r.outcomes[i].id == std::string(1, static_cast<char>('a' + i)));
    CHECK(r.outcomes[i].code == ErrorCode::kOk);
    CHECK_FALSE(r.outcomes[i].duplicate);
    CHECK(r.outcomes[i].state == TaskState::kPending);
  }
  CHECK(runs(fx) == "a:1,b:1");
  CHECK(fx.runs[0].handler == "echo");
  CHECK(fx.runs[0].payload == "p-a");
  CHECK(fx.runs[0].timeout_ms == 60000);
  CHECK(fx.runs[0].partition == partition_of("fifo", kPartitions));
  CHECK(fx.aborts.empty());
  CHECK(fx.finished.empty());
  CHECK(written(fx) == "a,b,c");
  CHECK(n.record("a").state == TaskState::kLeased);
  CHECK(n.record("b").state == TaskState::kLeased);
  CHECK(n.record("c").state == TaskState::kPending);
  CHECK(n.state().running() == 2);
  CHECK(n.state().unfinished() == 3);
  CHECK(n.record("a").lease_owner == "node-1");
  CHECK(n.record("a").lease_deadline_ms == kTtl);
  CHECK(n.record("a").timeout_at_ms == 60000);
  CHECK(n.counter("tasks_submitted") == 3);
  CHECK(n.counter("attempts_started") == 2);

  // A freed slot goes to the waiting task in the same step.
  Effects done = n.finish(5, "a", 1);
  CHECK(runs(done) == "c:1");
  CHECK(written(done) == "a,c");
  CHECK(ids_of(done.finished) == "a");
}

TEST_CASE("node: attempts that finished together complete in one log entry per partition") {
  Node n(make_config(2));
  n.submit(0, {keyed(make_spec("a")), keyed(make_spec("b"))});
  REQUIRE(n.partition("a") == n.partition("b"));
  Effects done = n.at(5, in::TasksFinished{{in::TaskFinished{n.partition("a"), "a", 1, true, "ra"},
                                            in::TaskFinished{n.partition("b"), "b", 1, true, "rb"}}});
  CHECK(n.record("a").state == TaskState::kCompleted);
  CHECK(n.record("a").result == "ra");
  CHECK(n.record("b").state == TaskState::kCompleted);
  CHECK(n.record("b").result == "rb");
  size_t entries = 0;
  for (const auto& w : done.raft_writes) {
    entries += std::count_if(w.ready.entries.begin(), w.ready.entries.end(),
                             [](const LogEntry& e) { return e.type == EntryType::kNormal; });
  }
  CHECK(entries == 1);
  CHECK(written_ops(done).size() == 2);
  CHECK(ids_of(done.finished) == "a,b");
}

TEST_CASE("node: attempts leased ahead of the slots start as slots free, and time out from their start") {
  NodeConfig config = make_config(2);
  config.lease_ahead_max = 3;
  Node n(config);
  std::vector<TaskSpec> specs;
  for (const char* id : {"a", "b", "c", "d", "e", "f", "g"}) {
    TaskSpec spec = keyed(make_spec(id));
    // Both slots stay busy with long runs while the short ones wait.
    if (spec.id > "b") spec.timeout_ms = 500;
    specs.push_back(spec);
  }
  Effects fx = n.submit(0, specs);
  // No run measured yet: one attempt per slot is leased ahead.
  CHECK(runs(fx) == "a:1,b:1");
  for (const char* id : {"a", "b", "c", "d"}) CHECK(n.record(id).state == TaskState::kLeased);
  CHECK(n.record("e").state == TaskState::kPending);
  CHECK(n.state().running() == 2);
  CHECK(n.counter("attempts_started") == 4);

  // Waiting past their own timeouts does not time them out, nor wake the
  // node early; their leases are kept by renewals like those of runs.
  Effects waited = n.tick(1000);
  CHECK(waited.aborts.empty());
  CHECK(waited.runs.empty());
  CHECK_FALSE(waited.persists());
  REQUIRE(wake(waited).has_value());
  CHECK(*wake(waited) > 1000);
  n.at(1000, in::RenewLeases{{n.ref("a", 1), n.ref("b", 1)}});
  CHECK(n.record("d").lease_deadline_ms == 1000 + kTtl);

  // A freed slot takes a leased attempt within the step, and the next one
  // is leased ahead.
  Effects freed = n.finish(1000, "a", 1);
  CHECK(runs(freed) == "c:1");
  CHECK(written(freed) == "a,e");
  CHECK(n.tick(1499).aborts.empty());
  Effects timed_out = n.tick(1500);
  CHECK(aborts(timed_out) == "c:1");
  CHECK(runs(timed_out) == "d:1");
  CHECK(n.record("c").attempts[0].outcome == AttemptOutcome::kTimedOut);
}

TEST_CASE("node: a draining node starts none of the attempts leased ahead; they go back to the queue") {
  NodeConfig config = make_config(1);
  config.lease_ahead_max = 1;
  Node n(config);
  n.submit(0, {keyed(make_spec("a")), keyed(make_spec("b"))});
  CHECK(n.record("b").state == TaskState::kLeased);
  n.at(10, in::Drain{});
  CHECK(n.record("b").state == TaskState::kPending);
  CHECK(n.record("b").attempts.back().outcome == AttemptOutcome::kLost);
  CHECK(n.record("b").attempts.back().error == "given back unstarted: node draining");
  Effects done = n.finish(20, "a", 1);
  CHECK(done.runs.empty());
  CHECK(n.record("a").state == TaskState::kCompleted);
}

TEST_CASE("node: how many attempts are leased ahead follows the measured run time") {
  NodeConfig config = make_config(2);
  config.lease_ahead_max = 8;
  Node n(config);
  n.submit(0, {keyed(make_spec("x")), keyed(make_spec("y")), keyed(make_spec("z1")), keyed(make_spec("z2")),
               keyed(make_spec("z3")), keyed(make_spec("z4"))});
  CHECK(n.record("z2").state == TaskState::kLeased);
  CHECK(n.record("z3").state == TaskState::kPending);
  // A run of 1 ms: 10 ms of runs is ten per slot, capped at lease_ahead_max.
  Effects fast = n.finish(1, "x", 1);
  CHECK(runs(fast) == "z1:1");
  CHECK(n.record("z4").state == TaskState::kLeased);
  std::vector<TaskSpec> specs;
  for (int i = 0; i < 10; ++i) specs.push_back(keyed(make_spec("t" + std::to_string(i))));
  n.submit(1, specs);
  // y and z1 run; z2..z4 and t0..t4 wait: eight beyond the two slots.
  CHECK(n.record("t4").state == TaskState::kLeased);
  CHECK(n.record("t5").state == TaskState::kPending);
  CHECK(n.state().running() == 2);
}

TEST_CASE("node: a step persists the ops of exactly the tasks it changed") {
  Node n(make_config(1));
  Effects fx = n.submit(0, {keyed(make_spec("z")), keyed(make_spec("y")), keyed(make_spec("x"))});
  CHECK(written(fx) == "x,y,z");
  CHECK(runs(fx) == "z:1");
  // Replaying the persisted ops rebuilds the records exactly as they stand.
  TaskTable replay;
  for (const auto& op : written_ops(fx)) REQUIRE(replay.apply(op).ok());
  REQUIRE(replay.records().size() == 3);
  for (const auto& [id, r] : replay.records()) CHECK(r == n.record(id));

  SUBCASE("a tick with nothing due changes nothing") {
    Effects idle = n.tick(1);
    CHECK(idle.empty());
    CHECK_FALSE(idle.persists());
  }
  SUBCASE("a rejected submit writes nothing but replies") {
    TaskSpec bad = make_spec("bad");
    bad.handler = "nope";
    Effects rejected = n.submit(1, {bad});
    CHECK_FALSE(rejected.persists());
    CHECK(rejected.replies.size() == 1);
  }
  SUBCASE("a completion writes the finished and the newly leased record") {
    Effects done = n.finish(2, "z", 1);
    CHECK(written(done) == "y,z");
    CHECK(runs(done) == "y:1");
    for (const auto& op : written_ops(done)) REQUIRE(replay.apply(op).ok());
    for (const auto& [id, r] : replay.records()) CHECK(r == n.record(id));
  }
}

TEST_CASE("node: priority decides dispatch order, FIFO among equals") {
  Node n(make_config(1));
  n.submit(0, {make_spec("blocker")});
  // Same instant, same priority: submission order, not id order.
  n.submit(10, {keyed(make_spec("c")), keyed(make_spec("a")), make_spec("urgent", 2), keyed(make_spec("b"))});
  std::string order;
  std::string current = "blocker";
  uint64_t now = 20;
  for (int i = 0; i < 4; ++i) {
    Effects fx = n.finish(now++, current, 1);
    REQUIRE(fx.runs.size() == 1);
    current = fx.runs[0].id;
    order += (order.empty() ? "" : ",") + current;
  }
  CHECK(order == "urgent,c,a,b");
}

TEST_CASE("node: tasks submitted in successive steps keep FIFO across partitions") {
  Node n(make_config(1));
  n.submit(0, {make_spec("blocker")});
  // One per step, ids picked so that they are not in ascending partition order.
  std::vector<std::string> ids = {"c", "a", "b", "d"};
  std::set<uint32_t> partitions;
  for (const auto& id : ids) {
    n.submit(10, {make_spec(id)});
    partitions.insert(partition_of(id, kPartitions));
  }
  CHECK(partitions.size() > 1);
  std::string order;
  std::string current = "blocker";
  uint64_t now = 20;
  for (size_t i = 0; i < ids.size(); ++i) {
    Effects fx = n.finish(now++, current, 1);
    REQUIRE(fx.runs.size() == 1);
    current = fx.runs[0].id;
    order += (order.empty() ? "" : ",") + current;
  }
  CHECK(order == "c,a,b,d");
}

TEST_CASE("node: resubmitting the same spec is an idempotent duplicate") {
  Node n;
  n.submit(0, {make_spec("a")});
  Effects fx = n.submit(5, {make_spec("a")});
  SubmitOutcome o = submit_outcome(fx);
  CHECK(o.id == "a");
  CHECK(o.code == ErrorCode::kOk);
  CHECK(o.duplicate);
  CHECK(o.state == TaskState::kLeased);
  CHECK_FALSE(fx.persists());
  CHECK(fx.runs.empty());
  CHECK(n.counter("submit_duplicates") == 1);
  CHECK(n.counter("tasks_submitted") == 1);

  n.finish(6, "a", 1);
  CHECK(submit_outcome(n.submit(7, {make_spec("a")})).state == TaskState::kCompleted);
}

TEST_CASE("node: the same id twice in one batch is stored once") {
  Node n;
  Effects fx = n.submit(0, {make_spec("a"), make_spec("a")});
  CHECK(submit_outcome(fx, 0).code == ErrorCode::kOk);
  CHECK(submit_outcome(fx, 1).code == ErrorCode::kOk);
  CHECK_FALSE(submit_outcome(fx, 0).duplicate);
  CHECK(submit_outcome(fx, 1).duplicate);
  CHECK(runs(fx) == "a:1");
  CHECK(n.records() == 1);
  CHECK(n.counter("tasks_submitted") == 1);
}

TEST_CASE("node: reusing an id with a different spec is a conflict") {
  Node n;
  n.submit(0, {make_spec("a")});
  TaskSpec other = make_spec("a");
  other.payload = "something else";
  Effects fx = n.submit(5, {other});
  SubmitOutcome o = submit_outcome(fx);
  CHECK(o.code == ErrorCode::kConflict);
  CHECK_FALSE(o.duplicate);
  CHECK_FALSE(o.message.empty());
  CHECK_FALSE(fx.persists());
  CHECK(n.record("a").spec == make_spec("a"));
  CHECK(n.counter("submit_rejected_conflict") == 1);
}

TEST_CASE("node: an id reused under another key is another task; neither disturbs the other") {
  Node n(make_config(2));
  const std::string key_a = "alpha", key_b = "beta";
  const uint32_t pa = partition_of(key_a, kPartitions), pb = partition_of(key_b, kPartitions);
  REQUIRE(pa != pb);
  Effects first = n.submit(0, {keyed(make_spec("x"), key_a)});
  REQUIRE(runs(first) == "x:1");
  // The same id under another key: stored in the other partition, run
  // beside the first; the first keeps its lease and its run.
  Effects second = n.submit(5, {keyed(make_spec("x"), key_b)});
  CHECK(submit_outcome(second).code == ErrorCode::kOk);
  CHECK_FALSE(submit_outcome(second).duplicate);
  CHECK(aborts(second) == "");
  REQUIRE(second.runs.size() == 1);
  CHECK(second.runs[0].partition == pb);
  CHECK(n.state().running() == 2);
  CHECK(n.state().table(pa)->find("x")->state == TaskState::kLeased);
  CHECK(n.state().table(pb)->find("x")->state == TaskState::kLeased);

  // Each finish completes its own partition's task.
  n.at(10, in::TaskFinished{pb, "x", 1, true, "from b"});
  CHECK(n.state().table(pb)->find("x")->state == TaskState::kCompleted);
  CHECK(n.state().table(pb)->find("x")->result == "from b");
  CHECK(n.state().table(pa)->find("x")->state == TaskState::kLeased);
  // Renewals name the partition too: a's lease outlives its first TTL.
  n.at(kTtl / 2, in::RenewLeases{{RunRef{pa, "x", 1}}});
  CHECK(n.tick(kTtl + 1).aborts.empty());
  n.at(kTtl + 2, in::TaskFinished{pa, "x", 1, true, "from a"});
  CHECK(n.state().table(pa)->find("x")->state == TaskState::kCompleted);
  CHECK(n.state().table(pa)->find("x")->result == "from a");
  CHECK(n.counter("stale_completions_rejected") == 0);
}

TEST_CASE("node: a task naming an unknown handler is rejected") {
  Node n;
  TaskSpec spec = make_spec("a");
  spec.handler = "does-not-exist";
  Effects fx = n.submit(0, {spec, make_spec("b")});
  CHECK(submit_outcome(fx, 0).code == ErrorCode::kUnknownHandler);
  CHECK(submit_outcome(fx, 1).code == ErrorCode::kOk);
  CHECK(n.state().find("a") == nullptr);
  CHECK(runs(fx) == "b:1");
  CHECK(written(fx) == "b");
  CHECK(n.counter("submit_rejected_unknown_handler") == 1);
}

// An exec task whose command the node's policy forbids, with `program` as argv[0].
TaskSpec exec_spec(const std::string& id, const std::string& program) {
  TaskSpec spec = make_spec(id);
  spec.handler = "exec";
  spec.payload = R"({"argv":[")" + program + R"(","-c","true"]})";
  return spec;
}

NodeConfig exec_config() {
  NodeConfig config = make_config();
  config.handlers.insert("exec");
  config.exec.programs = {"/bin/sh"};
  return config;
}

TEST_CASE("node: an exec task the policy refuses is rejected at submit and never written") {
  Node n(exec_config());
  Effects fx = n.submit(0, {exec_spec("bad", "/bin/bash"), exec_spec("rel", "sh"), exec_spec("ok", "/bin/sh")});
  CHECK(submit_outcome(fx, 0).code == ErrorCode::kHandlerNotAllowed);
  CHECK(submit_outcome(fx, 1).code == ErrorCode::kHandlerNotAllowed);
  CHECK(submit_outcome(fx, 2).code == ErrorCode::kOk);
  CHECK(written(fx) == "ok");
  CHECK(n.state().find("bad") == nullptr);
  CHECK(n.state().find("rel") == nullptr);
  CHECK(n.counter("submit_rejected_handler_not_allowed") == 2);
}

TEST_CASE("node: with no exec policy every exec task is rejected") {
  NodeConfig config = make_config();
  config.handlers.insert("exec");
  Node n(config);
  Effects fx = n.submit(0, {exec_spec("a", "/bin/sh")});
  CHECK(submit_outcome(fx).code == ErrorCode::kHandlerNotAllowed);
  CHECK_FALSE(fx.persists());
}

TEST_CASE("node: a leader refuses an exec task its policy forbids even when the origin routed it") {
  // The origin's policy let it through (the nodes' policies differ): the
  // leader, which would put it in the log, checks again.
  Node n(exec_config());
  TaskSpec spec = exec_spec("routed", "/bin/bash");
  uint32_t partition = partition_of(spec.id, kPartitions);
  Effects fx = n.state().step(Input{0, in::FromPeer{RouteSubmit{7, "tcp://origin:1", partition, {spec}}}});
  CHECK_FALSE(fx.persists());
  REQUIRE(fx.sends.size() == 1);
  CHECK(fx.sends[0].to_address == "tcp://origin:1");
  const auto* reply = std::get_if<RouteSubmitReply>(&fx.sends[0].message);
  REQUIRE(reply != nullptr);
  CHECK(reply->code == ErrorCode::kOk);
  REQUIRE(reply->outcomes.size() == 1);
  CHECK(reply->outcomes[0].code == ErrorCode::kHandlerNotAllowed);
  CHECK(n.state().find("routed") == nullptr);
}

TEST_CASE("node: out-of-range fields are invalid arguments") {
  Node n;
  TaskSpec spec = make_spec("a");
  SUBCASE("max_attempts 0") { spec.max_attempts = 0; }
  SUBCASE("max_attempts over the limit") { spec.max_attempts = limits::kMaxAttempts + 1; }
  SUBCASE("timeout 0") { spec.timeout_ms = 0; }
  SUBCASE("timeout over the limit") { spec.timeout_ms = limits::kMaxTimeoutMs + 1; }
  SUBCASE("backoff base above max") {
    spec.backoff_base_ms = 2000;
    spec.backoff_max_ms = 1000;
  }
  SUBCASE("backoff max over the limit") { spec.backoff_max_ms = limits::kMaxTimeoutMs + 1; }
  Effects fx = n.submit(0, {spec});
  CHECK(submit_outcome(fx).code == ErrorCode::kInvalidArgument);
  CHECK_FALSE(submit_outcome(fx).message.empty());
  CHECK(n.state().find("a") == nullptr);
  CHECK_FALSE(fx.persists());
  CHECK(fx.runs.empty());
  CHECK(n.counter("submit_rejected_invalid_argument") == 1);
}

TEST_CASE("node: fields exactly at their limits are accepted") {
  Node n;
  TaskSpec spec = make_spec("a");
  spec.max_attempts = limits::kMaxAttempts;
  spec.timeout_ms = limits::kMaxTimeoutMs;
  spec.backoff_base_ms = limits::kMaxTimeoutMs;
  spec.backoff_max_ms = limits::kMaxTimeoutMs;
  TaskSpec minimal = make_spec("b");
  minimal.max_attempts = 1;
  minimal.timeout_ms = 1;
  minimal.backoff_base_ms = 0;
  minimal.backoff_max_ms = 0;
  Effects fx = n.submit(0, {spec, minimal});
  CHECK(submit_outcome(fx, 0).code == ErrorCode::kOk);
  CHECK(submit_outcome(fx, 1).code == ErrorCode::kOk);
  CHECK(n.record("a").spec == spec);
  CHECK(n.record("b").spec == minimal);
}

TEST_CASE("node: max_unfinished unfinished tasks, then kOverloaded") {
  NodeConfig config = make_config(1);
  config.max_unfinished = 2;
  Node n(config);
  Effects fx = n.submit(0, {keyed(make_spec("a")), keyed(make_spec("b")), keyed(make_spec("c"))});
  CHECK(submit_outcome(fx, 0).code == ErrorCode::kOk);
  CHECK(submit_outcome(fx, 1).code == ErrorCode::kOk);
  CHECK(submit_outcome(fx, 2).code == ErrorCode::kOverloaded);
  CHECK(n.state().find("c") == nullptr);
  CHECK(n.counter("submit_rejected_overloaded") == 1);
  // A duplicate of a stored task is still answered while full.
  CHECK(submit_outcome(n.submit(1, {keyed(make_spec("a"))})).duplicate);
  // The limit counts the tasks of every partition.
  CHECK(submit_outcome(n.submit(1, {make_spec("c")})).code == ErrorCode::kOverloaded);

  // Once a task is terminal there is room again.
  n.finish(2, "a", 1);
  CHECK(submit_outcome(n.submit(3, {make_spec("c")})).code == ErrorCode::kOk);
  CHECK(submit_outcome(n.submit(4, {make_spec("d")})).code == ErrorCode::kOverloaded);
  CHECK(n.state().unfinished() == 2);
}

TEST_CASE("node: an empty id gets a generated one") {
  Node n;
  TaskSpec anon = make_spec("");
  Effects fx = n.submit(0, {anon, anon});
  const std::string id0 = submit_outcome(fx, 0).id;
  const std::string id1 = submit_outcome(fx, 1).id;
  CHECK(submit_outcome(fx, 0).code == ErrorCode::kOk);
  CHECK(submit_outcome(fx, 1).code == ErrorCode::kOk);
  CHECK(id0.rfind("t-", 0) == 0);
  CHECK(id0.size() == 2 + 16 + 8);
  CHECK(id0 != id1);
  CHECK(n.record(id0).spec.id == id0);
  CHECK(n.record(id1).spec.id == id1);
  CHECK(n.record(id0).partition == partition_of(id0, kPartitions));
  CHECK(runs(fx).find(id0 + ":1") != std::string::npos);

  // The same seed generates the same ids (simulator replays).
  Node twin;
  Effects twin_fx = twin.submit(0, {anon, anon});
  CHECK(submit_outcome(twin_fx, 0).id == id0);
  CHECK(submit_outcome(twin_fx, 1).id == id1);
}

TEST_CASE("node: the partition comes from the key, or the id when there is none") {
  Node n;
  TaskSpec keyed_spec = make_spec("a");
  keyed_spec.key = "customer-42";
  n.submit(0, {keyed_spec, make_spec("b")});
  const uint32_t pa = partition_of("customer-42", kPartitions);
  const uint32_t pb = partition_of("b", kPartitions);
  CHECK(n.record("a").partition == pa);
  CHECK(n.record("b").partition == pb);
  CHECK(n.record("a").partition < kPartitions);
  // Each lives in its partition's table.
  REQUIRE(n.state().table(pa) != nullptr);
  CHECK(n.state().table(pa)->find("a") != nullptr);
  CHECK(n.state().table(pb)->find("b") != nullptr);
  if (pa != pb) {
    CHECK(n.state().table(pa)->find("b") == nullptr);
    CHECK(n.state().table(pb)->find("a") == nullptr);
  }
}

// --- completion, failure, retry --------------------------------------------------

TEST_CASE("node: a successful run completes the task") {
  Node n;
  n.submit(0, {make_spec("a")});
  Effects fx = n.finish(250, "a", 1, true, "result bytes");
  CHECK(written(fx) == "a");
  const TaskRecord& r = n.record("a");
  CHECK(r.state == TaskState::kCompleted);
  CHECK(r.result == "result bytes");
  CHECK(r.finished_ms == 250);
  REQUIRE(r.attempts.size() == 1);
  CHECK(r.attempts[0].outcome == AttemptOutcome::kSucceeded);
  REQUIRE(fx.finished.size() == 1);
  CHECK(fx.finished[0] == r);
  CHECK(n.state().running() == 0);
  CHECK(n.state().unfinished() == 0);
  CHECK(n.counter("tasks_completed") == 1);
  CHECK_FALSE(wake(fx).has_value());
}

TEST_CASE("node: a failed run goes back to PENDING and retries after backoff") {
  Node n;
  n.submit(0, {make_spec("a")});
  Effects failed = n.finish(1000, "a", 1, false, "kaput");
  CHECK(written(failed) == "a");
  CHECK(failed.runs.empty());
  CHECK(failed.finished.empty());
  const TaskRecord& r = n.record("a");
  CHECK(r.state == TaskState::kPending);
  CHECK(r.failures == 1);
  CHECK(r.error == "kaput");
  REQUIRE(r.attempts.size() == 1);
  CHECK(r.attempts[0].outcome == AttemptOutcome::kFailed);
  CHECK(r.attempts[0].error == "kaput");
  // First retry: base 100 ms with equal jitter, so 50..100 ms later.
  const uint64_t retry_at = r.not_before_ms;
  CHECK(retry_at >= 1050);
  CHECK(retry_at <= 1100);
  CHECK(wake(failed) == std::optional<uint64_t>(retry_at));
  CHECK(n.counter("attempts_failed") == 1);
  CHECK(n.state().gauges().at("tasks_in_backoff") == 1);

  Effects early = n.tick(retry_at - 1);
  CHECK(early.runs.empty());
  CHECK(n.record("a").state == TaskState::kPending);

  Effects due = n.tick(retry_at);
  CHECK(runs(due) == "a:2");
  CHECK(n.record("a").state == TaskState::kLeased);
  CHECK(n.record("a").attempt == 2);
}

TEST_CASE("node: after max_attempts failures the task is FAILED (dead letter)") {
  Node n;
  n.submit(0, {make_spec("a")});  // max_attempts 3
  uint64_t now = 0;
  for (uint32_t attempt = 1; attempt <= 3; ++attempt) {
    now += 10;
    Effects fx = n.finish(now, "a", attempt, false, "e" + std::to_string(attempt));
    CHECK(fx.runs.empty());
    if (attempt < 3) {
      CHECK(fx.finished.empty());
      now = n.record("a").not_before_ms;
      CHECK(runs(n.tick(now)) == "a:" + std::to_string(attempt + 1));
    } else {
      CHECK_FALSE(wake(fx).has_value());
      CHECK(ids_of(fx.finished) == "a");
    }
  }
  const TaskRecord& r = n.record("a");
  CHECK(r.state == TaskState::kFailed);
  CHECK(r.failures == 3);
  CHECK(r.attempt == 3);
  CHECK(r.error == "e3");
  CHECK(r.finished_ms == now);
  REQUIRE(r.attempts.size() == 3);
  for (uint32_t i = 0; i < 3; ++i) {
    CHECK(r.attempts[i].attempt == i + 1);
    CHECK(r.attempts[i].outcome == AttemptOutcome::kFailed);
    CHECK(r.attempts[i].error == "e" + std::to_string(i + 1));
  }
  CHECK(n.counter("attempts_failed") == 2);
  CHECK(n.counter("tasks_dead_lettered") == 1);
  CHECK(n.state().unfinished() == 0);
  CHECK(n.tick(now + 100000).runs.empty());
  // Dead letters stay listable.
  ListRequest failed_only;
  failed_only.any_state = false;
  failed_only.state = TaskState::kFailed;
  CHECK(ids_of(reply<ListReply>(n.list(now + 100001, failed_only), 6).records) == "a");
}

TEST_CASE("node: an attempt past its timeout is aborted, counted and retried") {
  Node n;
  TaskSpec spec = make_spec("a");
  spec.timeout_ms = 500;
  Effects started = n.submit(0, {spec});
  CHECK(wake(started) == std::optional<uint64_t>(500));
  CHECK(n.tick(499).empty());

  Effects fx = n.tick(500);
  CHECK(aborts(fx) == "a:1");
  CHECK(fx.runs.empty());
  CHECK(written(fx) == "a");
  const TaskRecord& r = n.record("a");
  CHECK(r.state == TaskState::kPending);
  CHECK(r.failures == 1);
  REQUIRE(r.attempts.size() == 1);
  CHECK(r.attempts[0].outcome == AttemptOutcome::kTimedOut);
  CHECK(r.attempts[0].ended_ms == 500);
  CHECK(r.attempts[0].error.find("timed out") != std::string::npos);
  CHECK(r.not_before_ms >= 550);
  CHECK(r.not_before_ms <= 600);
  CHECK(n.counter("attempts_timed_out") == 1);
  CHECK(n.counter("attempts_failed") == 0);
  CHECK(n.state().running() == 0);

  Effects retry = n.tick(r.not_before_ms);
  CHECK(runs(retry) == "a:2");
  CHECK(retry.runs[0].timeout_ms == 500);

  // The handler of the timed-out attempt returning late changes nothing.
  Effects late = n.finish(r.not_before_ms + 1, "a", 1, true);
  CHECK_FALSE(late.persists());
  CHECK(n.counter("stale_completions_rejected") == 1);
  CHECK(n.record("a").state == TaskState::kLeased);
}

TEST_CASE("node: a timeout on the last attempt dead-letters the task") {
  Node n;
  TaskSpec spec = make_spec("a");
  spec.timeout_ms = 500;
  spec.max_attempts = 1;
  n.submit(0, {spec});
  Effects fx = n.tick(500);
  CHECK(aborts(fx) == "a:1");
  CHECK(n.record("a").state == TaskState::kFailed);
  CHECK(ids_of(fx.finished) == "a");
  CHECK(n.counter("attempts_timed_out") == 1);
  CHECK(n.counter("tasks_dead_lettered") == 1);
}

// --- leases ----------------------------------------------------------------------

TEST_CASE("node: an unrenewed lease expires: attempt lost, budget untouched") {
  Node n;
  Effects started = n.submit(0, {make_spec("a")});
  CHECK(wake(started) == std::optional<uint64_t>(kTtl));
  CHECK(n.tick(kTtl - 1).empty());

  SUBCASE("and the task is dispatched again at once") {
    Effects fx = n.tick(kTtl);
    CHECK(aborts(fx) == "a:1");
    CHECK(runs(fx) == "a:2");
    const TaskRecord& r = n.record("a");
    CHECK(r.state == TaskState::kLeased);
    CHECK(r.failures == 0);
    REQUIRE(r.attempts.size() == 2);
    CHECK(r.attempts[0].outcome == AttemptOutcome::kLost);
    CHECK(r.attempts[0].ended_ms == kTtl);
    CHECK(r.attempts[1].outcome == AttemptOutcome::kRunning);
    CHECK(n.counter("leases_expired") == 1);
  }
  SUBCASE("while draining it stays PENDING") {
    n.at(kTtl - 1, in::Drain{});
    Effects fx = n.tick(kTtl);
    CHECK(aborts(fx) == "a:1");
    CHECK(fx.runs.empty());
    const TaskRecord& r = n.record("a");
    CHECK(r.state == TaskState::kPending);
    CHECK(r.failures == 0);
    CHECK(r.lease_owner.empty());
    REQUIRE(r.attempts.size() == 1);
    CHECK(r.attempts[0].outcome == AttemptOutcome::kLost);
  }
}

TEST_CASE("node: a lost lease with max_attempts 1 still gets its one try") {
  Node n;
  TaskSpec spec = make_spec("a");
  spec.max_attempts = 1;
  n.submit(0, {spec});
  CHECK(runs(n.tick(kTtl)) == "a:2");
  n.finish(kTtl + 1, "a", 2, true);
  CHECK(n.record("a").state == TaskState::kCompleted);
}

TEST_CASE("node: a task that loses its runner max_lost_attempts times in a row is a dead letter") {
  NodeConfig config = make_config();
  config.max_lost_attempts = 3;
  Node n(config);
  n.submit(0, {make_spec("a")});
  // Each lease runs out unrenewed: the runner vanished with the task.
  n.tick(kTtl);
  n.tick(2 * kTtl);
  REQUIRE(n.record("a").state == TaskState::kLeased);
  CHECK(n.record("a").lost_attempts == 2);
  Effects fx = n.tick(3 * kTtl);
  const TaskRecord& r = n.record("a");
  CHECK(r.state == TaskState::kFailed);
  CHECK(r.failures == 0);  // max_attempts untouched
  CHECK(r.lost_attempts == 3);
  CHECK(r.error.find("lost its runner 3 times") != std::string::npos);
  CHECK(fx.runs.empty());
  CHECK(n.counter("tasks_dead_lettered") == 1);
  CHECK(n.counter("tasks_dead_lettered_lost_runners") == 1);

  // A retry re-queues it like any dead letter, with a fresh count.
  Effects retried = n.at(3 * kTtl + 1, in::Retry{7, RetryRequest{{"a"}, false}});
  CHECK(runs(retried) == "a:4");
  CHECK(n.record("a").lost_attempts == 0);
  // An attempt that ends otherwise resets the count too.
  n.tick(4 * kTtl + 1);
  CHECK(n.record("a").lost_attempts == 1);
  n.finish(4 * kTtl + 2, "a", 5, false, "boom");
  CHECK(n.record("a").lost_attempts == 0);
}

TEST_CASE("node: RenewLeases extends the lease so it does not expire") {
  Node n;
  n.submit(0, {make_spec("a")});
  Effects renewed = n.at(5000, in::RenewLeases{{n.ref("a", 1)}});
  CHECK(written(renewed) == "a");
  CHECK(n.record("a").lease_deadline_ms == 5000 + kTtl);
  CHECK(wake(renewed) == std::optional<uint64_t>(5000 + kTtl));
  CHECK(n.counter("leases_renewed") == 1);

  CHECK(n.tick(kTtl).empty());
  CHECK(n.record("a").state == TaskState::kLeased);
  CHECK(n.tick(5000 + kTtl - 1).empty());
  // Without a further renewal it runs out eventually.
  CHECK(aborts(n.tick(5000 + kTtl)) == "a:1");
}

TEST_CASE("node: renewals of attempts not running here are ignored") {
  Node n;
  n.submit(0, {make_spec("a")});
  Effects fx = n.at(5000, in::RenewLeases{{n.ref("a", 2), n.ref("a", 0), n.ref("ghost", 1)}});
  CHECK_FALSE(fx.persists());
  CHECK(n.record("a").lease_deadline_ms == kTtl);
  CHECK(n.counter("leases_renewed") == 0);
}

TEST_CASE("node: a completion for an old attempt is stale and rejected") {
  Node n;
  n.submit(0, {make_spec("a")});
  n.tick(kTtl);  // lease lost; attempt 2 starts
  REQUIRE(n.record("a").attempt == 2);
  const TaskRecord before = n.record("a");

  Effects fx = n.finish(kTtl + 5, "a", 1, true, "from the lost runner");
  CHECK(fx.empty());
  CHECK(n.record("a") == before);
  CHECK(n.counter("stale_completions_rejected") == 1);

  SUBCASE("a failure report for the old attempt is also stale") {
    CHECK(n.finish(kTtl + 6, "a", 1, false, "x").empty());
    CHECK(n.record("a").failures == 0);
    CHECK(n.counter("stale_completions_rejected") == 2);
  }
  SUBCASE("the current attempt still completes") {
    n.finish(kTtl + 6, "a", 2, true, "good");
    CHECK(n.record("a").result == "good");
    // ... and a repeated report of it is stale too.
    CHECK(n.finish(kTtl + 7, "a", 2, true, "again").empty());
    CHECK(n.record("a").result == "good");
    CHECK(n.counter("stale_completions_rejected") == 2);
  }
  SUBCASE("a completion for an unknown task is stale") {
    CHECK(n.finish(kTtl + 6, "ghost", 1).empty());
    CHECK(n.counter("stale_completions_rejected") == 2);
  }
}

// --- cancel ------------------------------------------------------------------------

TEST_CASE("node: cancelling a pending task") {
  Node n(make_config(1));
  n.submit(0, {keyed(make_spec("a")), keyed(make_spec("b"))});
  REQUIRE(n.record("b").state == TaskState::kPending);
  Effects fx = n.cancel(10, {"b"});
  const auto& r = reply<CancelReply>(fx, 1);
  REQUIRE(r.outcomes.size() == 1);
  CHECK(r.outcomes[0].id == "b");
  CHECK(r.outcomes[0].code == ErrorCode::kOk);
  CHECK(r.outcomes[0].state == TaskState::kCancelled);
  CHECK(fx.aborts.empty());
  CHECK(written(fx) == "b");
  CHECK(ids_of(fx.finished) == "b");
  CHECK(n.record("b").state == TaskState::kCancelled);
  CHECK(n.record("b").finished_ms == 10);
  CHECK(n.counter("tasks_cancelled") == 1);
  // The slot freed by "a" finds nothing to run.
  CHECK(n.finish(20, "a", 1).runs.empty());
}

TEST_CASE("node: cancelling a running task aborts its run") {
  Node n(make_config(1));
  n.submit(0, {keyed(make_spec("a")), keyed(make_spec("b"))});
  Effects fx = n.cancel(10, {"a"});
  CHECK(reply<CancelReply>(fx, 1).outcomes[0].code == ErrorCode::kOk);
  CHECK(aborts(fx) == "a:1");
  CHECK(runs(fx) == "b:1");  // the slot is free again
  CHECK(written(fx) == "a,b");
  const TaskRecord& a = n.record("a");
  CHECK(a.state == TaskState::kCancelled);
  REQUIRE(a.attempts.size() == 1);
  CHECK(a.attempts[0].outcome == AttemptOutcome::kCancelled);

  // The aborted handler reporting anyway is a stale completion.
  Effects late = n.finish(11, "a", 1, true);
  CHECK_FALSE(late.persists());
  CHECK(n.counter("stale_completions_rejected") == 1);
  CHECK(n.record("a").state == TaskState::kCancelled);
}

TEST_CASE("node: cancelling a finished or unknown task") {
  Node n;
  n.submit(0, {make_spec("a"), make_spec("b")});
  n.finish(5, "a", 1);
  Effects fx = n.cancel(10, {"a", "ghost", "b", "b"});
  const auto& r = reply<CancelReply>(fx, 1);
  REQUIRE(r.outcomes.size() == 4);
  CHECK(r.outcomes[0].id == "a");
  CHECK(r.outcomes[0].code == ErrorCode::kAlreadyTerminal);
  CHECK(r.outcomes[0].state == TaskState::kCompleted);
  CHECK(r.outcomes[1].id == "ghost");
  CHECK(r.outcomes[1].code == ErrorCode::kNotFound);
  CHECK(r.outcomes[2].id == "b");
  CHECK(r.outcomes[2].code == ErrorCode::kOk);
  CHECK(r.outcomes[2].state == TaskState::kCancelled);
  // The fan-out answers per id: an id listed twice gets the same outcome twice.
  CHECK(r.outcomes[3].id == "b");
  CHECK(r.outcomes[3].code == ErrorCode::kOk);
  CHECK(r.outcomes[3].state == TaskState::kCancelled);
  CHECK(written(fx) == "b");
  CHECK(ids_of(fx.finished) == "b");
  CHECK(n.record("a").state == TaskState::kCompleted);
  CHECK(n.counter("tasks_cancelled") == 1);

  // Cancelling it again, now that it is terminal.
  const auto& again = reply<CancelReply>(n.cancel(11, {"b"}), 1);
  REQUIRE(again.outcomes.size() == 1);
  CHECK(again.outcomes[0].code == ErrorCode::kAlreadyTerminal);
  CHECK(again.outcomes[0].state == TaskState::kCancelled);
  CHECK(n.counter("tasks_cancelled") == 1);
}

// --- recovery ----------------------------------------------------------------------

TEST_CASE("node: a restart recovers every acknowledged task from the Raft disk") {
  NodeConfig config = make_config(1);
  SUBCASE("from the log alone") {}
  SUBCASE("from snapshots and the log after them") { config.replication.snapshot_every = 3; }
  Node n(config);

  // c completed, f dead-lettered, x cancelled, d in a long backoff, l
  // running when the process dies, p waiting for the slot l holds.
  CHECK(runs(n.submit(0, {make_spec("c")})) == "c:1");
  n.finish(10, "c", 1, true, "result-c");
  TaskSpec slow_retry = make_spec("d");
  slow_retry.backoff_base_ms = 5000;
  slow_retry.backoff_max_ms = 5000;
  CHECK(runs(n.submit(20, {slow_retry})) == "d:1");
  n.finish(30, "d", 1, false, "boom");
  TaskSpec once = make_spec("f");
  once.max_attempts = 1;
  CHECK(runs(n.submit(40, {once})) == "f:1");
  n.finish(50, "f", 1, false, "fatal");
  CHECK(runs(n.submit(60, {make_spec("l")})) == "l:1");
  CHECK(n.submit(70, {make_spec("p")}).runs.empty());
  CHECK(n.submit(80, {make_spec("x")}).runs.empty());
  n.cancel(90, {"x"});

  const std::vector<std::string> ids = {"c", "d", "f", "l", "p", "x"};
  std::map<std::string, TaskRecord> before;
  for (const auto& id : ids) before[id] = n.record(id);
  REQUIRE(before["c"].state == TaskState::kCompleted);
  REQUIRE(before["d"].state == TaskState::kPending);
  REQUIRE(before["f"].state == TaskState::kFailed);
  REQUIRE(before["l"].state == TaskState::kLeased);
  REQUIRE(before["p"].state == TaskState::kPending);
  REQUIRE(before["x"].state == TaskState::kCancelled);
  if (config.replication.snapshot_every == 3) CHECK(n.counter("snapshots_taken") > 0);
  const uint64_t retry_d = before["d"].not_before_ms;
  REQUIRE(retry_d >= 2530);
  REQUIRE(retry_d <= 5030);

  Effects fx = n.restart(1000);
  // Every acknowledged task is back; the finished ones and the waiting ones
  // exactly as they were.
  CHECK(n.records() == ids.size());
  for (const char* id : {"c", "d", "f", "x"}) CHECK(n.record(id) == before[id]);
  CHECK(n.record("c").result == "result-c");
  CHECK(n.record("f").error == "fatal");
  CHECK(n.counter("partitions_recovered") == kPartitions);
  // Nothing of the old runs is running here. The lease "l" held is released
  // as soon as the node leads again (see restart()) and the oldest ready task
  // runs first: "p" has been ready since 70, "l" only since the restart.
  CHECK(fx.aborts.empty());
  CHECK(runs(fx) == "p:1");
  CHECK(n.counter("leases_expired") == 1);
  const TaskRecord& l = n.record("l");
  CHECK(l.state == TaskState::kPending);
  CHECK(l.attempt == 1);
  CHECK(l.failures == 0);
  REQUIRE(l.attempts.size() == 1);
  CHECK(l.attempts[0].outcome == AttemptOutcome::kLost);
  CHECK(l.attempts[0].ended_ms == 1000);
  CHECK(n.state().unfinished() == 3);  // d, l, p

  // A report from the runner of the lost attempt is stale.
  Effects stale = n.finish(1001, "l", 1, true, "from the old life");
  CHECK_FALSE(stale.persists());
  CHECK(stale.runs.empty());
  CHECK(n.counter("stale_completions_rejected") == 1);
  CHECK(n.record("l").state == TaskState::kPending);

  // The lost attempt runs again, with a higher attempt number.
  CHECK(runs(n.finish(1002, "p", 1)) == "l:2");
  const TaskRecord& rerun = n.record("l");
  CHECK(rerun.attempt == 2);
  REQUIRE(rerun.attempts.size() == 2);
  CHECK(rerun.attempts[1].runner == "node-1");
  CHECK(rerun.attempts[1].outcome == AttemptOutcome::kRunning);
  Effects l_done = n.finish(1003, "l", 2, true, "result-l");
  CHECK(n.record("l").state == TaskState::kCompleted);

  // The recovered backoff is honoured.
  CHECK(wake(l_done) == std::optional<uint64_t>(retry_d));
  CHECK(n.tick(retry_d - 1).runs.empty());
  CHECK(runs(n.tick(retry_d)) == "d:2");

  // Duplicates of recovered tasks are answered from the recovered records.
  Effects dup = n.submit(retry_d + 1, {make_spec("c"), make_spec("x")});
  CHECK(submit_outcome(dup, 0).duplicate);
  CHECK(submit_outcome(dup, 0).state == TaskState::kCompleted);
  CHECK(submit_outcome(dup, 1).duplicate);
  CHECK(submit_outcome(dup, 1).state == TaskState::kCancelled);
  CHECK_FALSE(dup.persists());
  CHECK(n.counter("submit_duplicates") == 2);
  CHECK(n.record("c") == before["c"]);
  const auto& got = reply<GetReply>(n.get(retry_d + 2, {"c", "f"}), 5);
  REQUIRE(got.records.size() == 2);
  CHECK(got.records[0] == before["c"]);
  CHECK(got.records[1] == before["f"]);
}

TEST_CASE("node: a second restart recovers what the first life after a restart wrote") {
  Node n(make_config(1));
  n.submit(0, {make_spec("a")});
  n.restart(100);  // a's attempt 1 is lost; attempt 2 runs
  REQUIRE(n.record("a").attempt == 2);
  n.finish(200, "a", 2, true, "second life");
  n.submit(300, {make_spec("b")});
  Effects fx = n.restart(400);
  CHECK(n.record("a").state == TaskState::kCompleted);
  CHECK(n.record("a").result == "second life");
  CHECK(runs(fx) == "b:2");
  CHECK(n.counter("leases_expired") == 1);
}

TEST_CASE("node: what a replica cannot read back halts its partition; it never serves a partial table") {
  NodeConfig config = make_config(1);
  config.replication.snapshot_every = 2;
  Node n(config);
  const uint32_t p = partition_of("fifo", kPartitions);
  n.submit(0, {keyed(make_spec("a")), keyed(make_spec("b"))});
  n.finish(1, "a", 1, true, "result-a");
  n.submit(2, {make_spec("elsewhere")});
  REQUIRE(partition_of("elsewhere", kPartitions) != p);
  auto groups = n.disk().groups(kPartitions);
  RaftDisk& disk = groups.at(p);
  REQUIRE(disk.snapshot.meta.index > 0);
  uint64_t bad_index = 0;
  SUBCASE("a snapshot that does not decode") {
    disk.snapshot.data = "not a snapshot";
    bad_index = disk.snapshot.meta.index;
  }
  SUBCASE("a committed log entry that does not decode") {
    bad_index = disk.snapshot.meta.index + 1;
    disk.entries.insert(disk.entries.begin(), LogEntry{bad_index, disk.hard_state.term, EntryType::kNormal, "junk", {}});
    for (auto& e : disk.entries) {
      if (&e != &disk.entries.front()) ++e.index;
    }
    disk.hard_state.commit = disk.entries.back().index;
  }
  Effects fx = n.recover_from(10, groups);
  REQUIRE(fx.halts.size() == 1);
  CHECK(fx.halts[0].group == p);
  CHECK(fx.halts[0].index == bad_index);
  CHECK(n.counter("partitions_halted") == 1);
  n.at(11, in::Join{});
  CHECK_FALSE(n.state().leads(p));
  CHECK(n.state().leads((p + 1) % kPartitions));
  CHECK(n.record("elsewhere").state == TaskState::kLeased);
  // Asked for a task of the halted partition, the node never answers "missing".
  Effects got = n.get(12, {"a"});
  Effects later = n.tick(12 + config.replication.request_deadline_ms);
  for (const Effects* e : {&got, &later}) {
    for (const auto& r : e->replies) {
      if (const auto* g = std::get_if<GetReply>(&r.reply)) CHECK(g->missing.empty());
    }
  }
  // The partitions view names it.
  bool shown = false;
  for (const auto& g : n.state().partitions_view().groups) shown |= g.partition == p && g.role == "halted";
  CHECK(shown);
}

TEST_CASE("node: with its disk nearly full a lone node refuses new tasks, still serves reads, and recovers") {
  Node n(make_config(1));
  n.submit(0, {make_spec("before")});
  n.at(1, in::StorageSpace{true});
  CHECK(n.state().gauges().at("storage_full") == 1);
  Effects refused = n.submit(2, {make_spec("during")});
  CHECK(submit_outcome(refused).code == ErrorCode::kStorageFull);
  CHECK_FALSE(refused.persists());
  // A resend of a stored task is still answered from its record.
  CHECK(submit_outcome(n.submit(3, {make_spec("before")})).duplicate);
  const auto& got = reply<GetReply>(n.get(4, {"before"}), 5);
  REQUIRE(got.records.size() == 1);
  // Alone, it has nobody to hand its partitions to: it keeps leading them.
  CHECK(n.state().leads(0));
  n.at(5, in::StorageSpace{false});
  CHECK(submit_outcome(n.submit(6, {make_spec("after")})).code == ErrorCode::kOk);
  CHECK(n.counter("storage_full_entered") == 1);
  CHECK(n.counter("storage_full_left") == 1);
}

TEST_CASE("node: a step's raft writes and compactions persist into a consistent disk") {
  // A single-voter group commits and applies in the step that proposes, so
  // a compaction may cover entries its own step appends: the disk applies
  // the writes first, then the compaction, and keeps only the entries after
  // the snapshot (a restart from anything else fails RaftGroup's assertion).
  NodeConfig config = make_config(1);
  config.replication.snapshot_every = 3;
  Node n(config);
  auto consistent = [&]() {
    for (const auto& [p, disk] : n.disk().groups(kPartitions)) {
      uint64_t expected = disk.snapshot.meta.index + 1;
      for (const auto& entry : disk.entries) {
        if (entry.index != expected++) {
          MESSAGE("group " << p << ": entry " << entry.index << " after snapshot " << disk.snapshot.meta.index);
          return false;
        }
      }
    }
    return true;
  };
  n.submit(0, {keyed(make_spec("a")), keyed(make_spec("b"))});
  n.finish(1, "a", 1, true, "result-a");
  CHECK(n.counter("snapshots_taken") > 0);
  CHECK(n.disk().groups(kPartitions).at(partition_of("fifo", kPartitions)).snapshot.meta.index > 0);
  // Restarting from an inconsistent disk aborts the process: stop here.
  REQUIRE(consistent());
  n.restart(10);
  CHECK(n.record("a").result == "result-a");
  CHECK(n.record("b").attempt == 2);
  REQUIRE(consistent());
}

TEST_CASE("node: a partition is snapshot again only once its log has grown by half the last snapshot") {
  // A snapshot rewrites the whole partition. Taken every snapshot_every
  // entries whatever their size, a partition of large records would be
  // rewritten after every few small changes, inside the loop's write.
  NodeConfig config = make_config(1);
  config.replication.snapshot_every = 3;
  Node n(config);
  TaskSpec big = keyed(make_spec("big"));
  big.payload = std::string(64 * 1024, 'x');
  n.submit(0, {big});
  n.submit(1, {keyed(make_spec("s0"))});
  n.submit(2, {keyed(make_spec("s1"))});
  uint64_t first = n.counter("snapshots_taken");
  REQUIRE(first > 0);
  for (int i = 0; i < 20; ++i) n.submit(10 + i, {keyed(make_spec("small-" + std::to_string(i)))});
  CHECK(n.counter("snapshots_taken") == first);
  TaskSpec change = keyed(make_spec("change"));
  change.payload = std::string(40 * 1024, 'y');
  n.submit(40, {change});
  n.submit(41, {keyed(make_spec("t0"))});
  n.submit(42, {keyed(make_spec("t1"))});
  CHECK(n.counter("snapshots_taken") > first);
  n.restart(50);
  CHECK(n.record("big").spec.payload == big.payload);
  CHECK(n.record("small-19").spec.id == "small-19");
  CHECK(n.record("change").spec.payload == change.payload);
}

TEST_CASE("node: recovered tasks count towards unfinished and duplicates") {
  NodeConfig config = make_config(1);
  config.max_unfinished = 2;
  Node n(config);
  n.submit(0, {keyed(make_spec("p")), keyed(make_spec("q"))});
  CHECK(submit_outcome(n.submit(1, {make_spec("c")})).code == ErrorCode::kOverloaded);
  n.finish(2, "p", 1);  // q runs; room for one more
  CHECK(submit_outcome(n.submit(3, {make_spec("c")})).code == ErrorCode::kOk);
  CHECK(runs(n.finish(4, "q", 1)) == "c:1");
  n.finish(5, "c", 1);
  CHECK(runs(n.submit(6, {make_spec("r")})) == "r:1");
  REQUIRE(n.state().unfinished() == 1);

  n.restart(10);
  CHECK(n.state().unfinished() == 1);
  CHECK(n.state().gauges().at("tasks_completed") == 3);
  Effects fx = n.submit(11, {make_spec("c")});
  CHECK(submit_outcome(fx).duplicate);
  CHECK(submit_outcome(fx).state == TaskState::kCompleted);
  // The recovered "r" takes one of the two places.
  CHECK(submit_outcome(n.submit(12, {make_spec("s")})).code == ErrorCode::kOk);
  CHECK(submit_outcome(n.submit(13, {make_spec("t")})).code == ErrorCode::kOverloaded);
}

// --- drain -------------------------------------------------------------------------

TEST_CASE("node: draining refuses new work and dispatches nothing") {
  Node n(make_config(1));
  n.submit(0, {keyed(make_spec("a")), keyed(make_spec("b"))});
  Effects drain = n.at(100, in::Drain{});
  CHECK(drain.empty());
  CHECK(n.state().draining());
  CHECK(n.state().gauges().at("draining") == 1);

  Effects refused = n.submit(101, {make_spec("c")});
  CHECK(submit_outcome(refused).code == ErrorCode::kShuttingDown);
  CHECK(n.state().find("c") == nullptr);
  CHECK(n.counter("submit_rejected_shutting_down") == 1);
  // Resubmitting something already stored is still an idempotent duplicate.
  CHECK(submit_outcome(n.submit(102, {keyed(make_spec("b"))})).duplicate);

  // The running attempt may finish; the pending one is not started.
  Effects done = n.finish(200, "a", 1);
  CHECK(n.record("a").state == TaskState::kCompleted);
  CHECK(done.runs.empty());
  CHECK(n.tick(100000).runs.empty());
  CHECK(n.record("b").state == TaskState::kPending);
  // Reads are still served.
  CHECK(ids_of(reply<GetReply>(n.get(100001, {"a", "b"}), 5).records) == "a,b");
}

// --- wait --------------------------------------------------------------------------

TEST_CASE("node: Wait by ids replies once every listed task is terminal") {
  Node n(make_config(2));
  n.submit(0, {make_spec("a"), make_spec("b")});
  Effects waiting = n.wait(1, {"a", "b"}, 30000, 7);
  CHECK(waiting.replies.empty());

  CHECK(n.finish(2, "a", 1).replies.empty());
  CHECK(n.finish(3, "b", 1, false, "x").replies.empty());  // retried: not terminal
  const uint64_t retry_at = n.record("b").not_before_ms;
  CHECK(n.tick(retry_at).replies.empty());

  const auto& w = reply<WaitReply>(n.finish(retry_at + 1, "b", 2), 7);
  CHECK_FALSE(w.timed_out);
  CHECK(ids_of(w.records) == "a,b");
  CHECK(w.records[1].attempt == 2);
  CHECK(w.records[1] == n.record("b"));
}

TEST_CASE("node: Wait reply carries records in request order, missing ids and unfinished") {
  Node n(make_config(2));
  n.submit(0, {keyed(make_spec("a")), keyed(make_spec("b")), keyed(make_spec("c"))});
  n.wait(1, {"b", "ghost", "a"}, 30000, 7);
  n.finish(2, "a", 1);
  Effects fx = n.finish(3, "b", 1);  // "c" has been running since t=2
  const auto& w = reply<WaitReply>(fx, 7);
  CHECK_FALSE(w.timed_out);
  CHECK(ids_of(w.records) == "b,a");
  CHECK(w.records[0].state == TaskState::kCompleted);
  CHECK(w.records[1].state == TaskState::kCompleted);
  CHECK(w.missing == std::vector<std::string>{"ghost"});
  CHECK(w.unfinished == 1);
  // The waiter is gone: nothing more is sent for it.
  CHECK(n.finish(4, "c", 1).replies.empty());
  CHECK(n.tick(40000).replies.empty());
}

TEST_CASE("node: Wait resolves through cancel and dead letter too") {
  Node n;
  TaskSpec once = make_spec("b");
  once.max_attempts = 1;
  n.submit(0, {make_spec("a"), once});
  n.wait(1, {"a", "b"}, 30000, 7);
  n.finish(2, "b", 1, false, "fatal");
  Effects fx = n.cancel(3, {"a"});
  REQUIRE(fx.replies.size() == 2);
  CHECK(fx.replies[0].request == 1);
  CHECK(std::holds_alternative<CancelReply>(fx.replies[0].reply));
  REQUIRE(std::holds_alternative<WaitReply>(fx.replies[1].reply));
  CHECK(fx.replies[1].request == 7);
  const auto& w = std::get<WaitReply>(fx.replies[1].reply);
  CHECK_FALSE(w.timed_out);
  REQUIRE(w.records.size() == 2);
  CHECK(w.records[0].state == TaskState::kCancelled);
  CHECK(w.records[1].state == TaskState::kFailed);
}

TEST_CASE("node: Wait on tasks that are already terminal or unknown replies at once") {
  Node n;
  n.submit(0, {make_spec("a")});
  n.finish(1, "a", 1);
  SUBCASE("terminal and unknown ids") {
    const auto& w = reply<WaitReply>(n.wait(2, {"a", "ghost"}, 30000, 7), 7);
    CHECK_FALSE(w.timed_out);
    CHECK(ids_of(w.records) == "a");
    CHECK(w.missing == std::vector<std::string>{"ghost"});
  }
  SUBCASE("no ids at all") {
    const auto& w = reply<WaitReply>(n.wait(2, {}, 30000, 7), 7);
    CHECK_FALSE(w.timed_out);
    CHECK(w.records.empty());
  }
}

TEST_CASE("node: several waiters on one task each get exactly one reply") {
  Node n;
  n.submit(0, {make_spec("a")});
  n.wait(1, {"a"}, 30000, 7);
  n.wait(2, {"a", "a"}, 30000, 8);
  Effects fx = n.finish(3, "a", 1);
  REQUIRE(fx.replies.size() == 2);
  CHECK(fx.replies[0].request == 7);
  CHECK(fx.replies[1].request == 8);
  CHECK(std::get<WaitReply>(fx.replies[1].reply).records.size() == 2);
  CHECK(n.tick(50000).replies.empty());
}

TEST_CASE("node: Wait all replies when nothing is unfinished") {
  Node n;
  SUBCASE("at once on an idle node") {
    const auto& w = reply<WaitReply>(n.wait_all(0, 30000, 7), 7);
    CHECK_FALSE(w.timed_out);
    CHECK(w.unfinished == 0);
  }
  SUBCASE("after the last task finishes") {
    n.submit(0, {make_spec("a"), make_spec("b")});
    CHECK(n.wait_all(1, 30000, 7).replies.empty());
    CHECK(n.finish(2, "a", 1).replies.empty());
    const auto& w = reply<WaitReply>(n.finish(3, "b", 1), 7);
    CHECK_FALSE(w.timed_out);
    CHECK(w.unfinished == 0);
  }
}

TEST_CASE("node: Wait all ignores its ids and waits for every task") {
  // WaitRequest::ids is ignored when all = true: one listed task finishing
  // must not answer the waiter while others are still unfinished.
  Node n;
  n.submit(0, {make_spec("a"), make_spec("b")});
  CHECK(n.wait(1, {"a"}, 30000, 7, /*all=*/true).replies.empty());
  CHECK(n.finish(2, "a", 1).replies.empty());
  const auto& w = reply<WaitReply>(n.finish(3, "b", 1), 7);
  CHECK_FALSE(w.timed_out);
  CHECK(w.unfinished == 0);
}

TEST_CASE("node: Wait times out at its deadline") {
  Node n;
  n.submit(0, {make_spec("a")});
  SUBCASE("by ids") {
    Effects waiting = n.wait(100, {"a"}, 500, 7);
    CHECK(wake(waiting) == std::optional<uint64_t>(600));
    CHECK(n.tick(599).replies.empty());
    const auto& w = reply<WaitReply>(n.tick(600), 7);
    CHECK(w.timed_out);
    CHECK(ids_of(w.records) == "a");
    CHECK(w.records[0].state == TaskState::kLeased);
    CHECK(w.unfinished == 1);
  }
  SUBCASE("all") {
    n.wait_all(100, 500, 7);
    CHECK(n.tick(599).replies.empty());
    const auto& w = reply<WaitReply>(n.tick(600), 7);
    CHECK(w.timed_out);
    CHECK(w.unfinished == 1);
  }
  SUBCASE("timeout 0 on an unfinished task") {
    const auto& w = reply<WaitReply>(n.wait(100, {"a"}, 0, 7), 7);
    CHECK(w.timed_out);
  }
  // Once answered, the task finishing sends nothing more.
  CHECK(n.finish(700, "a", 1).replies.empty());
}

TEST_CASE("node: a huge Wait timeout does not wrap around into an instant timeout") {
  Node n;
  n.submit(0, {make_spec("a")});
  Effects waiting = n.wait(100, {"a"}, std::numeric_limits<uint64_t>::max(), 7);
  CHECK(waiting.replies.empty());
  CHECK(n.tick(200).replies.empty());
  const auto& w = reply<WaitReply>(n.finish(300, "a", 1), 7);
  CHECK_FALSE(w.timed_out);
}

TEST_CASE("node: a task finishing exactly at the Wait deadline is not a timeout") {
  Node n;
  n.submit(0, {make_spec("a")});
  n.wait(100, {"a"}, 500, 7);
  const auto& w = reply<WaitReply>(n.finish(600, "a", 1), 7);
  CHECK_FALSE(w.timed_out);
}

// --- wake-ups ------------------------------------------------------------------------

TEST_CASE("node: wake_at_ms is the next deadline of any kind") {
  Node n;
  SUBCASE("nothing scheduled") {
    Effects fx = n.tick(0);
    CHECK_FALSE(wake(fx).has_value());
    // What remains are the Raft and membership timers of a joined node.
    REQUIRE(fx.wake_at_ms.has_value());
    CHECK(*fx.wake_at_ms >= kFar);
  }
  SUBCASE("the lease deadline when it comes before the timeout") {
    CHECK(wake(n.submit(0, {make_spec("a")})) == std::optional<uint64_t>(kTtl));
  }
  SUBCASE("the timeout when it comes before the lease deadline") {
    TaskSpec quick = make_spec("a");
    quick.timeout_ms = 300;
    CHECK(wake(n.submit(0, {make_spec("b"), quick})) == std::optional<uint64_t>(300));
  }
  SUBCASE("the earliest of a backoff, a lease and a wait") {
    n.submit(0, {make_spec("a"), make_spec("b")});
    Effects fx = n.finish(9000, "a", 1, false, "x");  // retry at 9050..9100
    const uint64_t retry_at = n.record("a").not_before_ms;
    CHECK(wake(fx) == std::optional<uint64_t>(retry_at));
    CHECK(wake(n.wait(9001, {"b"}, 10, 7)) == std::optional<uint64_t>(9011));
    // Waiter answered at 9011; then the retry, then b's lease at kTtl.
    Effects answered = n.tick(9011);
    CHECK(reply<WaitReply>(answered, 7).timed_out);
    CHECK(wake(answered) == std::optional<uint64_t>(retry_at));
    CHECK(wake(n.tick(retry_at)) == std::optional<uint64_t>(kTtl));
  }
}

// --- reads -------------------------------------------------------------------------

TEST_CASE("node: get returns records in request order and names the missing") {
  Node n;
  n.submit(0, {make_spec("a"), make_spec("c")});
  REQUIRE(partition_of("a", kPartitions) != partition_of("c", kPartitions));
  Effects fx = n.get(1, {"c", "nope", "a", "c"});
  CHECK_FALSE(fx.persists());
  const auto& r = reply<GetReply>(fx, 5);
  CHECK(ids_of(r.records) == "c,a,c");
  CHECK(r.missing == std::vector<std::string>{"nope"});
  CHECK(r.records[1] == n.record("a"));
  CHECK(r.records[0] == n.record("c"));
}

TEST_CASE("node: list filters by state and pages by id") {
  Node n(make_config(2));
  // a, b run; c, d, e wait. Then a completes (c starts) and e is cancelled.
  // Submitted in three steps, so that c is ahead of d and e whatever their
  // partitions.
  n.submit(0, {make_spec("a"), make_spec("b")});
  n.submit(0, {make_spec("c")});
  n.submit(0, {make_spec("d"), make_spec("e")});
  std::set<uint32_t> partitions;
  for (const char* id : {"a", "b", "c", "d", "e"}) partitions.insert(partition_of(id, kPartitions));
  REQUIRE(partitions.size() > 2);  // the reply merges several partitions
  CHECK(runs(n.finish(1, "a", 1)) == "c:1");
  n.cancel(2, {"e"});
  uint64_t now = 3;
  auto list = [&](const ListRequest& q) { return reply<ListReply>(n.list(now++, q), 6); };

  ListRequest all;
  SUBCASE("every state, ascending ids") {
    ListReply r = list(all);
    CHECK(ids_of(r.records) == "a,b,c,d,e");
    CHECK_FALSE(r.more);
    CHECK(r.records[0] == n.record("a"));
  }
  SUBCASE("one state") {
    ListRequest leased;
    leased.any_state = false;
    leased.state = TaskState::kLeased;
    CHECK(ids_of(list(leased).records) == "b,c");
    leased.state = TaskState::kPending;
    CHECK(ids_of(list(leased).records) == "d");
    leased.state = TaskState::kCancelled;
    CHECK(ids_of(list(leased).records) == "e");
    leased.state = TaskState::kFailed;
    CHECK(list(leased).records.empty());
  }
  SUBCASE("limit sets more when records remain") {
    all.limit = 2;
    ListReply page1 = list(all);
    CHECK(ids_of(page1.records) == "a,b");
    CHECK(page1.more);
    all.after_id = page1.records.back().spec.id;
    ListReply page2 = list(all);
    CHECK(ids_of(page2.records) == "c,d");
    CHECK(page2.more);
    all.after_id = "d";
    ListReply page3 = list(all);
    CHECK(ids_of(page3.records) == "e");
    CHECK_FALSE(page3.more);
  }
  SUBCASE("a limit equal to what remains does not set more") {
    all.limit = 5;
    CHECK_FALSE(list(all).more);
    all.limit = 3;
    all.after_id = "b";
    ListReply rest = list(all);
    CHECK(ids_of(rest.records) == "c,d,e");
    CHECK_FALSE(rest.more);
  }
  SUBCASE("more only counts records of the requested state") {
    ListRequest leased;
    leased.any_state = false;
    leased.state = TaskState::kLeased;
    leased.limit = 2;
    CHECK_FALSE(list(leased).more);
    leased.limit = 1;
    ListReply r = list(leased);
    CHECK(ids_of(r.records) == "b");
    CHECK(r.more);
  }
  SUBCASE("after_id need not be a stored id") {
    all.after_id = "bb";
    CHECK(ids_of(list(all).records) == "c,d,e");
  }
}

TEST_CASE("node: gauges count tasks by state and slots") {
  Node n(make_config(2));
  n.submit(0, {make_spec("a"), make_spec("b"), make_spec("c")});
  n.finish(1, "a", 0);  // stale: nothing changes
  auto g = n.state().gauges();
  CHECK(g.at("tasks_pending") == 1);
  CHECK(g.at("tasks_leased") == 2);
  CHECK(g.at("tasks_completed") == 0);
  CHECK(g.at("tasks_ready") == 1);
  CHECK(g.at("tasks_in_backoff") == 0);
  CHECK(g.at("slots_total") == 2);
  CHECK(g.at("slots_free") == 0);
  CHECK(g.at("draining") == 0);
  CHECK(g.at("partitions_led") == kPartitions);
  CHECK(n.counter("stale_completions_rejected") == 1);
}

// --- aging ---------------------------------------------------------------------------

TEST_CASE("node: aging lets a long-waiting low-priority task overtake newer high-priority ones") {
  // One slot, held by "blocker". "low" (priority 0) waits from t=0; "high"
  // (priority 1) arrives at t=T. When the slot frees, "low" goes first iff it
  // has waited at least one aging interval longer (a tie goes to the older).
  auto first_after_blocker = [](uint64_t high_arrives_at) {
    Node n(make_config(1));
    n.submit(0, {make_spec("blocker", 5)});
    n.submit(0, {make_spec("low", 0)});
    n.submit(high_arrives_at, {make_spec("high", 1)});
    Effects fx = n.finish(high_arrives_at + 1, "blocker", 1);
    REQUIRE(fx.runs.size() == 1);
    return fx.runs[0].id;
  };
  CHECK(first_after_blocker(kAging - 1) == "high");
  CHECK(first_after_blocker(kAging) == "low");
  CHECK(first_after_blocker(kAging + 1) == "low");
}

TEST_CASE("node: a steady stream of high-priority work does not starve a low-priority task") {
  Node n(make_config(1));
  n.submit(0, {make_spec("blocker", 1)});
  n.submit(0, {make_spec("low", 0)});
  // Every 100 ms a new priority-1 task arrives and the running one finishes.
  std::string running = "blocker";
  uint64_t now = 0;
  int started_before_low = 0;
  for (int i = 0; i < 100; ++i) {
    now += 100;
    n.submit(now, {make_spec("high-" + std::to_string(i), 1)});
    Effects fx = n.finish(now, running, 1);
    REQUIRE(fx.runs.size() == 1);
    running = fx.runs[0].id;
    if (running == "low") break;
    ++started_before_low;
  }
  CHECK(running == "low");
  // Each high task submitted at t ranks 1000 - t against low's 0, so only
  // those submitted before t=1000 go first: high-0 (t=100) .. high-8 (t=900).
  CHECK(started_before_low == 9);
}


// --- edges of replicated partitions ----------------------------------------------------

TEST_CASE("node: max_unfinished holds for one batch spread over partitions") {
  NodeConfig config = make_config(1);
  config.max_unfinished = 2;
  Node n(config);
  // serve_submit counts unfinished() plus its own proposals, but it runs once
  // per partition before any of them is applied: each partition's part sees
  // room for max_unfinished more.
  std::vector<TaskSpec> specs;
  std::set<uint32_t> partitions;
  for (const char* id : {"a", "b", "c", "d"}) {
    specs.push_back(make_spec(id));
    partitions.insert(partition_of(id, kPartitions));
  }
  REQUIRE(partitions.size() > 2);
  Effects fx = n.submit(0, specs);
  SubmitReply r = reply<SubmitReply>(fx, 1);
  size_t accepted = 0;
  for (const auto& o : r.outcomes) {
    if (o.code == ErrorCode::kOk) {
      ++accepted;
    } else {
      CHECK(o.code == ErrorCode::kOverloaded);
    }
  }
  CHECK(accepted == 2);
  CHECK(n.state().unfinished() <= 2);
  CHECK(n.counter("submit_rejected_overloaded") == 2);
}

TEST_CASE("node: a restarted node releases its lost leases in the join step") {
  // expire_deadlines runs before the step's drain/dispatch loop, and the join
  // step gains leadership (lead_start) inside that loop, so the leases this
  // node held before the restart, whose runner is gone, are only released at
  // the next step; next_wake asks for none before the lease deadline.
  Node n(make_config(1));
  n.submit(0, {make_spec("a")});
  n.recover_only(100);
  Effects joined = n.rejoin(100);
  CHECK(n.counter("leases_expired") == 1);
  CHECK(runs(joined) == "a:2");
  CHECK(wake(joined) == std::optional<uint64_t>(100 + kTtl));
}

TEST_CASE("node: a huge Wait timeout does not wrap the fan-out round deadline") {
  // send_fanout_round sets round_deadline_ms = now + wait timeout +
  // route_timeout_ms without saturating: with a timeout near UINT64_MAX it
  // wraps to about route_timeout_ms, so the node wakes at once (even in the
  // past), retries the round every kRetryPauseMs and registers one more
  // waiter on the serving side each round.
  Node n;
  n.submit(0, {make_spec("a")});
  Effects waiting = n.wait(100, {"a"}, std::numeric_limits<uint64_t>::max(), 7);
  // a's lease, or the end of the first long-poll round (5 s): not at once.
  REQUIRE(wake(waiting).has_value());
  CHECK(*wake(waiting) >= std::min<uint64_t>(kTtl, 100 + 5000));
  for (uint64_t t : {1000, 1050, 2000, 5000}) CHECK(n.tick(t).replies.empty());
  CHECK(n.counter("fanout_rounds_retried") == 0);
  const auto& w = reply<WaitReply>(n.finish(6000, "a", 1), 7);
  CHECK_FALSE(w.timed_out);
}

TEST_CASE("node: recovering an unchanged disk writes nothing") {
  // RaftGroup's constructor (raft.cc) moves disk.hard_state.vote into vote_
  // and then copies disk.hard_state, vote now empty, into
  // persisted_hard_state_: every recovered group that voted reports its
  // unchanged hard state as changed and rewrites it.
  Node n(make_config(1));
  n.submit(0, {make_spec("a")});
  const auto disk = n.disk().groups(kPartitions);
  Effects fx = n.recover_only(100);
  CHECK_FALSE(fx.persists());
  size_t rewrites = 0;  // hard states written unchanged
  for (const auto& w : fx.raft_writes) {
    CHECK(w.ready.entries.empty());
    if (w.ready.hard_state && *w.ready.hard_state == disk.at(w.group).hard_state) ++rewrites;
  }
  CHECK(rewrites == 0);
}

}  // namespace
}  // namespace mesh
