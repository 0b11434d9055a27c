#include "node/core/node_state.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "node/core/partitioning.h"
#include "protocol/limits.h"
#include "test_random.h"

namespace mesh {
namespace {

constexpr uint64_t kTtl = 10000;
constexpr uint64_t kAging = 1000;

NodeConfig make_config(uint32_t slots = 2) {
  NodeConfig config;
  config.node_id = "node-1";
  config.slots = slots;
  config.lease_ttl_ms = kTtl;
  config.aging_interval_ms = kAging;
  config.handlers = {"echo", "work"};
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

// Drives one NodeState with a fixed-seed random source. Every step names its
// instant explicitly; nothing reads a clock.
class Node {
 public:
  explicit Node(NodeConfig config = make_config(), uint64_t seed = 42)
      : random_(seed), state_(std::move(config), random_) {}

  Effects at(uint64_t now_ms, InputEvent event) { return state_.step(Input{now_ms, std::move(event)}); }

  Effects submit(uint64_t now_ms, std::vector<TaskSpec> specs, RequestRef request = 1) {
    return at(now_ms, in::Submit{request, std::move(specs)});
  }
  Effects finish(uint64_t now_ms, const std::string& id, uint32_t attempt, bool ok = true,
                 std::string output = "out") {
    return at(now_ms, in::TaskFinished{id, attempt, ok, std::move(output)});
  }
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

  const TaskRecord& record(const std::string& id) const {
    const TaskRecord* r = state_.tasks().find(id);
    REQUIRE_MESSAGE(r != nullptr, "no record " << id);
    return *r;
  }
  uint64_t counter(const std::string& name) const {
    auto it = state_.counters().find(name);
    return it == state_.counters().end() ? 0 : it->second;
  }
  NodeState& state() { return state_; }

 private:
  testing::SplitMix64 random_;
  NodeState state_;
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
std::string writes(const Effects& fx) {
  std::string s;
  for (const auto& w : fx.writes) s += (s.empty() ? "" : ",") + w.spec.id;
  return s;
}
template <typename Records>
std::string ids_of(const Records& records) {
  std::string s;
  for (const auto& r : records) s += (s.empty() ? "" : ",") + r.spec.id;
  return s;
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

// --- submit and dispatch ---------------------------------------------------------

TEST_CASE("node: submit stores tasks and leases as many as there are slots") {
  Node n(make_config(2));
  Effects fx = n.submit(0, {make_spec("a"), make_spec("b"), make_spec("c")});

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
  CHECK(fx.aborts.empty());
  CHECK(writes(fx) == "a,b,c");
  CHECK(fx.writes[0].state == TaskState::kLeased);
  CHECK(fx.writes[1].state == TaskState::kLeased);
  CHECK(fx.writes[2].state == TaskState::kPending);
  CHECK(n.state().running() == 2);
  CHECK(n.record("a").lease_owner == "node-1");
  CHECK(n.record("a").lease_deadline_ms == kTtl);
  CHECK(n.record("a").timeout_at_ms == 60000);
  CHECK(n.counter("tasks_submitted") == 3);
  CHECK(n.counter("attempts_started") == 2);

  // A freed slot goes to the waiting task in the same step.
  Effects done = n.finish(5, "a", 1);
  CHECK(runs(done) == "c:1");
  CHECK(writes(done) == "a,c");
}

TEST_CASE("node: writes carry exactly the records a step changed, sorted by id") {
  Node n(make_config(1));
  Effects fx = n.submit(0, {make_spec("z"), make_spec("y"), make_spec("x")});
  CHECK(writes(fx) == "x,y,z");
  CHECK(runs(fx) == "z:1");
  // The written copies are the records as they stand after the step.
  for (const auto& w : fx.writes) CHECK(w == n.record(w.spec.id));

  SUBCASE("a tick with nothing due changes nothing") {
    Effects idle = n.tick(1);
    CHECK(idle.empty());
    CHECK(idle.writes.empty());
  }
  SUBCASE("a rejected submit writes nothing but replies") {
    TaskSpec bad = make_spec("bad");
    bad.handler = "nope";
    Effects rejected = n.submit(1, {bad});
    CHECK(rejected.writes.empty());
    CHECK(rejected.replies.size() == 1);
  }
  SUBCASE("a completion writes the finished and the newly leased record") {
    Effects done = n.finish(2, "z", 1);
    CHECK(writes(done) == "y,z");
    CHECK(runs(done) == "y:1");
  }
}

TEST_CASE("node: priority decides dispatch order, FIFO among equals") {
  Node n(make_config(1));
  n.submit(0, {make_spec("blocker")});
  // Same instant, same priority: submission order, not id order.
  n.submit(10, {make_spec("c"), make_spec("a"), make_spec("urgent", 2), make_spec("b")});
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

TEST_CASE("node: resubmitting the same spec is an idempotent duplicate") {
  Node n;
  n.submit(0, {make_spec("a")});
  Effects fx = n.submit(5, {make_spec("a")});
  SubmitOutcome o = submit_outcome(fx);
  CHECK(o.id == "a");
  CHECK(o.code == ErrorCode::kOk);
  CHECK(o.duplicate);
  CHECK(o.state == TaskState::kLeased);
  CHECK(fx.writes.empty());
  CHECK(fx.runs.empty());
  CHECK(n.counter("submit_duplicates") == 1);
  CHECK(n.counter("tasks_submitted") == 1);

  n.finish(6, "a", 1);
  CHECK(submit_outcome(n.submit(7, {make_spec("a")})).state == TaskState::kCompleted);
}

TEST_CASE("node: the same id twice in one batch is stored once") {
  Node n;
  Effects fx = n.submit(0, {make_spec("a"), make_spec("a")});
  CHECK_FALSE(submit_outcome(fx, 0).duplicate);
  CHECK(submit_outcome(fx, 1).duplicate);
  CHECK(runs(fx) == "a:1");
  CHECK(n.state().tasks().records().size() == 1);
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
  CHECK(fx.writes.empty());
  CHECK(n.record("a").spec == make_spec("a"));
  CHECK(n.counter("submit_rejected_conflict") == 1);
}

TEST_CASE("node: a task naming an unknown handler is rejected") {
  Node n;
  TaskSpec spec = make_spec("a");
  spec.handler = "does-not-exist";
  Effects fx = n.submit(0, {spec, make_spec("b")});
  CHECK(submit_outcome(fx, 0).code == ErrorCode::kUnknownHandler);
  CHECK(submit_outcome(fx, 1).code == ErrorCode::kOk);
  CHECK(n.state().tasks().find("a") == nullptr);
  CHECK(runs(fx) == "b:1");
  CHECK(n.counter("submit_rejected_unknown_handler") == 1);
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
  CHECK(n.state().tasks().find("a") == nullptr);
  CHECK(fx.writes.empty());
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
}

TEST_CASE("node: max_unfinished unfinished tasks, then kOverloaded") {
  NodeConfig config = make_config(1);
  config.max_unfinished = 2;
  Node n(config);
  Effects fx = n.submit(0, {make_spec("a"), make_spec("b"), make_spec("c")});
  CHECK(submit_outcome(fx, 0).code == ErrorCode::kOk);
  CHECK(submit_outcome(fx, 1).code == ErrorCode::kOk);
  CHECK(submit_outcome(fx, 2).code == ErrorCode::kOverloaded);
  CHECK(n.state().tasks().find("c") == nullptr);
  CHECK(n.counter("submit_rejected_overloaded") == 1);
  // A duplicate of a stored task is still answered while full.
  CHECK(submit_outcome(n.submit(1, {make_spec("a")})).duplicate);

  // Once a task is terminal there is room again.
  n.finish(2, "a", 1);
  CHECK(submit_outcome(n.submit(3, {make_spec("c")})).code == ErrorCode::kOk);
  CHECK(submit_outcome(n.submit(4, {make_spec("d")})).code == ErrorCode::kOverloaded);
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
  CHECK(runs(fx).find(id0 + ":1") != std::string::npos);

  // The same seed generates the same ids (simulator replays).
  Node twin;
  Effects twin_fx = twin.submit(0, {anon, anon});
  CHECK(submit_outcome(twin_fx, 0).id == id0);
  CHECK(submit_outcome(twin_fx, 1).id == id1);
}

TEST_CASE("node: the partition comes from the key, or the id when there is none") {
  NodeConfig config = make_config();
  config.ring.partitions = 16;
  Node n(config);
  TaskSpec keyed = make_spec("a");
  keyed.key = "customer-42";
  n.submit(0, {keyed, make_spec("b")});
  CHECK(n.record("a").partition == partition_of("customer-42", 16));
  CHECK(n.record("b").partition == partition_of("b", 16));
  CHECK(n.record("a").partition < 16);
}

// --- completion, failure, retry --------------------------------------------------

TEST_CASE("node: a successful run completes the task") {
  Node n;
  n.submit(0, {make_spec("a")});
  Effects fx = n.finish(250, "a", 1, true, "result bytes");
  CHECK(writes(fx) == "a");
  const TaskRecord& r = n.record("a");
  CHECK(r.state == TaskState::kCompleted);
  CHECK(r.result == "result bytes");
  CHECK(r.finished_ms == 250);
  REQUIRE(r.attempts.size() == 1);
  CHECK(r.attempts[0].outcome == AttemptOutcome::kSucceeded);
  CHECK(n.state().running() == 0);
  CHECK(n.state().tasks().unfinished() == 0);
  CHECK(n.counter("tasks_completed") == 1);
  CHECK_FALSE(fx.wake_at_ms.has_value());
}

TEST_CASE("node: a failed run goes back to PENDING and retries after backoff") {
  Node n;
  n.submit(0, {make_spec("a")});
  Effects failed = n.finish(1000, "a", 1, false, "kaput");
  CHECK(writes(failed) == "a");
  CHECK(failed.runs.empty());
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
  CHECK(failed.wake_at_ms == std::optional<uint64_t>(retry_at));
  CHECK(n.counter("attempts_failed") == 1);

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
      now = n.record("a").not_before_ms;
      CHECK(runs(n.tick(now)) == "a:" + std::to_string(attempt + 1));
    } else {
      CHECK_FALSE(fx.wake_at_ms.has_value());
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
  CHECK(n.state().tasks().unfinished() == 0);
  CHECK(n.tick(now + 100000).runs.empty());
  // Dead letters stay listable.
  ListRequest failed_only;
  failed_only.any_state = false;
  failed_only.state = TaskState::kFailed;
  CHECK(ids_of(n.state().list(failed_only).records) == "a");
}

TEST_CASE("node: an attempt past its timeout is aborted, counted and retried") {
  Node n;
  TaskSpec spec = make_spec("a");
  spec.timeout_ms = 500;
  Effects started = n.submit(0, {spec});
  CHECK(started.wake_at_ms == std::optional<uint64_t>(500));
  CHECK(n.tick(499).empty());

  Effects fx = n.tick(500);
  CHECK(aborts(fx) == "a:1");
  CHECK(fx.runs.empty());
  CHECK(writes(fx) == "a");
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
  CHECK(n.state().running() == 0);

  Effects retry = n.tick(r.not_before_ms);
  CHECK(runs(retry) == "a:2");
  CHECK(retry.runs[0].timeout_ms == 500);

  // The handler of the timed-out attempt returning late changes nothing.
  Effects late = n.finish(r.not_before_ms + 1, "a", 1, true);
  CHECK(late.writes.empty());
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
  CHECK(n.counter("attempts_timed_out") == 1);
  CHECK(n.counter("tasks_dead_lettered") == 1);
}

// --- leases ----------------------------------------------------------------------

TEST_CASE("node: an unrenewed lease expires: attempt lost, budget untouched") {
  Node n;
  Effects started = n.submit(0, {make_spec("a")});
  CHECK(started.wake_at_ms == std::optional<uint64_t>(kTtl));
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

TEST_CASE("node: RenewLeases extends the lease so it does not expire") {
  Node n;
  n.submit(0, {make_spec("a")});
  Effects renewed = n.at(5000, in::RenewLeases{{{"a", 1}}});
  CHECK(writes(renewed) == "a");
  CHECK(n.record("a").lease_deadline_ms == 5000 + kTtl);
  CHECK(renewed.wake_at_ms == std::optional<uint64_t>(5000 + kTtl));
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
  Effects fx = n.at(5000, in::RenewLeases{{{"a", 2}, {"a", 0}, {"ghost", 1}}});
  CHECK(fx.writes.empty());
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
  n.submit(0, {make_spec("a"), make_spec("b")});
  REQUIRE(n.record("b").state == TaskState::kPending);
  Effects fx = n.cancel(10, {"b"});
  const auto& r = reply<CancelReply>(fx, 1);
  REQUIRE(r.outcomes.size() == 1);
  CHECK(r.outcomes[0].id == "b");
  CHECK(r.outcomes[0].code == ErrorCode::kOk);
  CHECK(r.outcomes[0].state == TaskState::kCancelled);
  CHECK(fx.aborts.empty());
  CHECK(writes(fx) == "b");
  CHECK(n.record("b").state == TaskState::kCancelled);
  CHECK(n.record("b").finished_ms == 10);
  CHECK(n.counter("tasks_cancelled") == 1);
  // The slot freed by "a" finds nothing to run.
  CHECK(n.finish(20, "a", 1).runs.empty());
}

TEST_CASE("node: cancelling a running task aborts its run") {
  Node n(make_config(1));
  n.submit(0, {make_spec("a"), make_spec("b")});
  Effects fx = n.cancel(10, {"a"});
  CHECK(reply<CancelReply>(fx, 1).outcomes[0].code == ErrorCode::kOk);
  CHECK(aborts(fx) == "a:1");
  CHECK(runs(fx) == "b:1");  // the slot is free again
  CHECK(writes(fx) == "a,b");
  const TaskRecord& a = n.record("a");
  CHECK(a.state == TaskState::kCancelled);
  REQUIRE(a.attempts.size() == 1);
  CHECK(a.attempts[0].outcome == AttemptOutcome::kCancelled);

  // The aborted handler reporting anyway is a stale completion.
  Effects late = n.finish(11, "a", 1, true);
  CHECK(late.writes.empty());
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
  CHECK(r.outcomes[0].code == ErrorCode::kAlreadyTerminal);
  CHECK(r.outcomes[0].state == TaskState::kCompleted);
  CHECK(r.outcomes[1].code == ErrorCode::kNotFound);
  CHECK(r.outcomes[2].code == ErrorCode::kOk);
  CHECK(r.outcomes[3].code == ErrorCode::kAlreadyTerminal);
  CHECK(r.outcomes[3].state == TaskState::kCancelled);
  CHECK(writes(fx) == "b");
  CHECK(n.record("a").state == TaskState::kCompleted);
  CHECK(n.counter("tasks_cancelled") == 1);
}

// --- recovery ----------------------------------------------------------------------

TaskRecord stored(const std::string& id, TaskState state, uint32_t attempt = 0, std::string owner = "node-1") {
  TaskRecord r;
  r.spec = make_spec(id);
  r.partition = partition_of(id, 128);
  r.state = state;
  r.attempt = attempt;
  r.submitted_ms = 0;
  for (uint32_t i = 1; i < attempt; ++i) {
    r.attempts.push_back(AttemptInfo{i, owner, 0, 1, AttemptOutcome::kLost, "lost"});
  }
  if (state == TaskState::kLeased) {
    r.lease_owner = owner;
    r.lease_deadline_ms = 99999;
    r.timeout_at_ms = 99999;
    r.attempts.push_back(AttemptInfo{attempt, owner, 0, 0, AttemptOutcome::kRunning, ""});
  } else if (attempt > 0) {
    r.attempts.push_back(AttemptInfo{attempt, owner, 0, 1, AttemptOutcome::kLost, "lost"});
  }
  return r;
}

TEST_CASE("node: recovery releases leases held before the restart") {
  Node n(make_config(4));
  TaskRecord deferred = stored("d", TaskState::kPending, 1);
  deferred.not_before_ms = 5000;
  TaskRecord done = stored("c", TaskState::kCompleted, 1);
  done.attempts.back().outcome = AttemptOutcome::kSucceeded;
  Effects fx = n.at(1000, in::Recover{{stored("l", TaskState::kLeased, 2), stored("p", TaskState::kPending),
                                       deferred, done, stored("o", TaskState::kLeased, 1, "node-2")}});
  // The oldest ready task first: "p" has been ready since 0, the released
  // ones only since the restart at 1000.
  CHECK(runs(fx) == "p:1,l:3,o:2");
  CHECK(writes(fx) == "l,o,p");
  CHECK(fx.aborts.empty());  // nothing of the old runs is running here
  CHECK(n.counter("leases_lost_on_restart") == 2);
  CHECK(n.counter("tasks_recovered") == 5);

  const TaskRecord& l = n.record("l");
  CHECK(l.state == TaskState::kLeased);
  CHECK(l.attempt == 3);
  CHECK(l.failures == 0);
  REQUIRE(l.attempts.size() == 3);
  CHECK(l.attempts[1].attempt == 2);
  CHECK(l.attempts[1].outcome == AttemptOutcome::kLost);
  CHECK(l.attempts[1].ended_ms == 1000);
  CHECK(l.attempts[2].attempt == 3);
  CHECK(l.attempts[2].runner == "node-1");
  CHECK(n.record("c").state == TaskState::kCompleted);

  // The recovered backoff is honoured.
  CHECK(fx.wake_at_ms == std::optional<uint64_t>(5000));
  CHECK(n.tick(4999).runs.empty());
  CHECK(runs(n.tick(5000)) == "d:2");

  // A report from the runner of the lost attempt is stale.
  CHECK(n.finish(5001, "l", 2).writes.empty());
  CHECK(n.counter("stale_completions_rejected") == 1);
}

TEST_CASE("node: recovered tasks count towards unfinished and duplicates") {
  Node n;
  n.at(0, in::Recover{{stored("p", TaskState::kPending), stored("c", TaskState::kCompleted, 1)}});
  CHECK(n.state().tasks().unfinished() == 1);
  Effects fx = n.submit(1, {make_spec("c")});
  CHECK(submit_outcome(fx).duplicate);
  CHECK(submit_outcome(fx).state == TaskState::kCompleted);
}

// --- drain -------------------------------------------------------------------------

TEST_CASE("node: draining refuses new work and dispatches nothing") {
  Node n(make_config(1));
  n.submit(0, {make_spec("a"), make_spec("b")});
  Effects drain = n.at(100, in::Drain{});
  CHECK(drain.empty());
  CHECK(n.state().draining());
  CHECK(n.state().gauges().at("draining") == 1);

  Effects refused = n.submit(101, {make_spec("c")});
  CHECK(submit_outcome(refused).code == ErrorCode::kShuttingDown);
  CHECK(n.state().tasks().find("c") == nullptr);
  CHECK(n.counter("submit_rejected_shutting_down") == 1);
  // Resubmitting something already stored is still an idempotent duplicate.
  CHECK(submit_outcome(n.submit(102, {make_spec("b")})).duplicate);

  // The running attempt may finish; the pending one is not started.
  Effects done = n.finish(200, "a", 1);
  CHECK(n.record("a").state == TaskState::kCompleted);
  CHECK(done.runs.empty());
  CHECK(n.tick(100000).runs.empty());
  CHECK(n.record("b").state == TaskState::kPending);
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
}

TEST_CASE("node: Wait reply carries records in request order, missing ids and unfinished") {
  Node n(make_config(2));
  n.submit(0, {make_spec("a"), make_spec("b"), make_spec("c")});
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
  CHECK(std::holds_alternative<CancelReply>(fx.replies[0].reply));
  REQUIRE(std::holds_alternative<WaitReply>(fx.replies[1].reply));
  CHECK(fx.replies[1].request == 7);
  const auto& w = std::get<WaitReply>(fx.replies[1].reply);
  CHECK_FALSE(w.timed_out);
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
    CHECK(waiting.wake_at_ms == std::optional<uint64_t>(600));
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
  SUBCASE("nothing scheduled") { CHECK_FALSE(n.tick(0).wake_at_ms.has_value()); }
  SUBCASE("the lease deadline when it comes before the timeout") {
    CHECK(n.submit(0, {make_spec("a")}).wake_at_ms == std::optional<uint64_t>(kTtl));
  }
  SUBCASE("the timeout when it comes before the lease deadline") {
    TaskSpec quick = make_spec("a");
    quick.timeout_ms = 300;
    CHECK(n.submit(0, {make_spec("b"), quick}).wake_at_ms == std::optional<uint64_t>(300));
  }
  SUBCASE("the earliest of a backoff, a lease and a wait") {
    n.submit(0, {make_spec("a"), make_spec("b")});
    Effects fx = n.finish(9000, "a", 1, false, "x");  // retry at 9050..9100
    const uint64_t retry_at = n.record("a").not_before_ms;
    CHECK(fx.wake_at_ms == std::optional<uint64_t>(retry_at));
    CHECK(n.wait(9001, {"b"}, 10, 7).wake_at_ms == std::optional<uint64_t>(9011));
    // Waiter answered at 9011; then the retry, then b's lease at kTtl.
    CHECK(n.tick(9011).wake_at_ms == std::optional<uint64_t>(retry_at));
    CHECK(n.tick(retry_at).wake_at_ms == std::optional<uint64_t>(kTtl));
  }
}

// --- reads -------------------------------------------------------------------------

TEST_CASE("node: get returns records in request order and names the missing") {
  Node n;
  n.submit(0, {make_spec("a"), make_spec("b")});
  GetReply r = n.state().get(GetRequest{{"b", "nope", "a", "b"}});
  CHECK(ids_of(r.records) == "b,a,b");
  CHECK(r.missing == std::vector<std::string>{"nope"});
  CHECK(r.records[1] == n.record("a"));
}

TEST_CASE("node: list filters by state and pages by id") {
  Node n(make_config(2));
  // a, b run; c, d, e wait. Then a completes (c starts) and e is cancelled.
  n.submit(0, {make_spec("a"), make_spec("b"), make_spec("c"), make_spec("d"), make_spec("e")});
  n.finish(1, "a", 1);
  n.cancel(2, {"e"});

  ListRequest all;
  SUBCASE("every state, ascending ids") {
    ListReply r = n.state().list(all);
    CHECK(ids_of(r.records) == "a,b,c,d,e");
    CHECK_FALSE(r.more);
  }
  SUBCASE("one state") {
    ListRequest leased;
    leased.any_state = false;
    leased.state = TaskState::kLeased;
    CHECK(ids_of(n.state().list(leased).records) == "b,c");
    leased.state = TaskState::kPending;
    CHECK(ids_of(n.state().list(leased).records) == "d");
    leased.state = TaskState::kFailed;
    CHECK(n.state().list(leased).records.empty());
  }
  SUBCASE("limit sets more when records remain") {
    all.limit = 2;
    ListReply page1 = n.state().list(all);
    CHECK(ids_of(page1.records) == "a,b");
    CHECK(page1.more);
    all.after_id = page1.records.back().spec.id;
    ListReply page2 = n.state().list(all);
    CHECK(ids_of(page2.records) == "c,d");
    CHECK(page2.more);
    all.after_id = "d";
    ListReply page3 = n.state().list(all);
    CHECK(ids_of(page3.records) == "e");
    CHECK_FALSE(page3.more);
  }
  SUBCASE("a limit equal to what remains does not set more") {
    all.limit = 5;
    CHECK_FALSE(n.state().list(all).more);
  }
  SUBCASE("more only counts records of the requested state") {
    ListRequest leased;
    leased.any_state = false;
    leased.state = TaskState::kLeased;
    leased.limit = 2;
    CHECK_FALSE(n.state().list(leased).more);
    leased.limit = 1;
    ListReply r = n.state().list(leased);
    CHECK(ids_of(r.records) == "b");
    CHECK(r.more);
  }
  SUBCASE("after_id need not be a stored id") {
    all.after_id = "bb";
    CHECK(ids_of(n.state().list(all).records) == "c,d,e");
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

}  // namespace
}  // namespace mesh
