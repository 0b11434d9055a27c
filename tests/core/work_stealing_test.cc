// The stealing rules of NodeState, one edge at a time: what a victim lends,
// what a thief runs and reports, and how the owner fences results.
#include <doctest/doctest.h>

#include "node/core/node_state.h"
#include "protocol/codec.h"
#include "protocol/limits.h"
#include "test_random.h"

namespace mesh {
namespace {

constexpr uint64_t kTtl = 1000;

NodeConfig config_for(const std::string& id, uint32_t slots) {
  NodeConfig config;
  config.node_id = id;
  config.address = "sim://" + id;
  config.slots = slots;
  config.lease_ttl_ms = kTtl;
  config.handlers = {"sleep"};
  return config;
}

TaskSpec sleep_task(const std::string& id, std::string payload = "10") {
  TaskSpec t;
  t.id = id;
  t.handler = "sleep";
  t.payload = std::move(payload);
  return t;
}

struct Node {
  explicit Node(const std::string& id, uint32_t slots = 1) : random(7), state(config_for(id, slots), random) {}
  Effects at(uint64_t now, InputEvent e) { return state.step(Input{now, std::move(e)}); }
  Effects peer(uint64_t now, PeerMessage m) { return at(now, in::FromPeer{std::move(m)}); }
  testing::SplitMix64 random;
  NodeState state;
};

template <typename T>
std::vector<T> sent(const Effects& fx) {
  std::vector<T> out;
  for (const auto& s : fx.sends) {
    if (const auto* m = std::get_if<T>(&s.message)) out.push_back(*m);
  }
  return out;
}

// A victim with its one slot busy and n - 1 more tasks waiting.
Node loaded_victim(size_t n) {
  Node victim("victim");
  std::vector<TaskSpec> tasks;
  for (size_t i = 0; i < n; ++i) tasks.push_back(sleep_task("t" + std::to_string(i)));
  victim.at(0, in::Submit{1, tasks});
  return victim;
}

TEST_CASE("stealing: the victim lends half its excess, the tasks it would run last, durably") {
  Node victim = loaded_victim(9);  // t0 runs; t1..t8 wait
  Effects fx = victim.peer(10, StealRequest{"thief", "sim://thief", 16});
  auto grants = sent<StealGrant>(fx);
  REQUIRE(grants.size() == 1);
  REQUIRE(grants[0].tasks.size() == 4);  // excess 8 (no free slot), half of it
  CHECK(grants[0].tasks[0].id == "t8");  // from the back of the queue
  for (const auto& t : grants[0].tasks) {
    CHECK(t.attempt == 1);
    const TaskRecord* r = victim.state.tasks().find(t.id);
    CHECK(r->state == TaskState::kLeased);
    CHECK(r->lease_owner == "thief");
  }
  CHECK(fx.writes.size() == 4);  // the leases are in this step's writes, synced before the grant leaves
  CHECK(victim.state.counters().at("tasks_lent") == 4);
}

TEST_CASE("stealing: tasks marked not stealable stay home, and a grant fits in one frame") {
  Node v2("victim");
  std::vector<TaskSpec> tasks = {sleep_task("run-now")};
  for (int i = 0; i < 6; ++i) {
    TaskSpec p = sleep_task("pin-" + std::to_string(i));
    p.stealable = false;
    tasks.push_back(p);
  }
  v2.at(0, in::Submit{1, tasks});
  CHECK(sent<StealGrant>(v2.peer(1, StealRequest{"thief", "sim://thief", 16}))[0].tasks.empty());

  Node big("victim");
  std::vector<TaskSpec> heavy = {sleep_task("busy")};
  for (int i = 0; i < 40; ++i) heavy.push_back(sleep_task("big-" + std::to_string(i), std::string(limits::kMaxPayloadBytes - 10, '7')));
  big.at(0, in::Submit{1, heavy});
  auto grant = sent<StealGrant>(big.peer(1, StealRequest{"thief", "sim://thief", 16}))[0];
  size_t bytes = 0;
  for (const auto& t : grant.tasks) bytes += t.payload.size();
  CHECK_FALSE(grant.tasks.empty());
  CHECK(bytes <= limits::kMaxFrameBytes / 2);
  CHECK(encode_peer(grant).size() < limits::kMaxFrameBytes);
}

TEST_CASE("stealing: the owner commits the current attempt once and fences everything else") {
  Node victim = loaded_victim(5);
  auto grant = sent<StealGrant>(victim.peer(10, StealRequest{"thief", "sim://thief", 16}))[0];
  REQUIRE_FALSE(grant.tasks.empty());
  const RunTask& stolen = grant.tasks[0];

  SUBCASE("a result from another node than the lease holder is rejected") {
    auto acks = sent<StolenResultAck>(victim.peer(20, StolenResult{"other", "sim://other", stolen.id, stolen.attempt, true, "x"}));
    REQUIRE(acks.size() == 1);
    CHECK_FALSE(acks[0].accepted);
    CHECK(victim.state.tasks().find(stolen.id)->state == TaskState::kLeased);
  }
  SUBCASE("the right result commits; its resend is acknowledged without a second commit") {
    auto first = sent<StolenResultAck>(victim.peer(20, StolenResult{"thief", "sim://thief", stolen.id, stolen.attempt, true, "done"}));
    CHECK(first.at(0).accepted);
    const TaskRecord* r = victim.state.tasks().find(stolen.id);
    CHECK(r->state == TaskState::kCompleted);
    CHECK(r->result == "done");
    Effects again = victim.peer(30, StolenResult{"thief", "sim://thief", stolen.id, stolen.attempt, true, "done"});
    CHECK(sent<StolenResultAck>(again).at(0).accepted);
    CHECK(again.writes.empty());
    CHECK(victim.state.tasks().find(stolen.id)->attempts.size() == 1);
  }
  SUBCASE("a thief that stops renewing loses the lease; its late result is stale") {
    victim.at(20 + kTtl, in::Tick{});
    const TaskRecord* r = victim.state.tasks().find(stolen.id);
    CHECK(r->state != TaskState::kLeased);
    CHECK(r->attempts.back().outcome == AttemptOutcome::kLost);
    auto acks = sent<StolenResultAck>(victim.peer(30 + kTtl, StolenResult{"thief", "sim://thief", stolen.id, stolen.attempt, true, "late"}));
    CHECK_FALSE(acks.at(0).accepted);
    CHECK(victim.state.counters().at("stale_completions_rejected") >= 1);
  }
  SUBCASE("renewals keep the lease alive") {
    victim.peer(kTtl / 2, LeaseRenewal{"thief", {{stolen.id, stolen.attempt}}});
    victim.at(10 + kTtl + 1, in::Tick{});
    CHECK(victim.state.tasks().find(stolen.id)->state == TaskState::kLeased);
  }
  SUBCASE("a failed stolen attempt goes back with backoff and a bounded error") {
    std::string long_error(limits::kMaxErrorBytes * 3, 'e');
    victim.peer(20, StolenResult{"thief", "sim://thief", stolen.id, stolen.attempt, false, long_error});
    const TaskRecord* r = victim.state.tasks().find(stolen.id);
    CHECK(r->state == TaskState::kPending);
    CHECK(r->error.size() == limits::kMaxErrorBytes);
  }
}

TEST_CASE("stealing: the thief runs a grant, reports each result until acknowledged") {
  Node thief("thief", 2);
  thief.at(0, in::Join{{}});
  Effects fx = thief.peer(5, StealGrant{"victim", "sim://victim", {{"s1", 3, "sleep", "10", 60000}}});
  REQUIRE(fx.runs.size() == 1);
  CHECK(fx.runs[0].attempt == 3);
  CHECK(thief.state.running() == 1);

  Effects done = thief.at(20, in::TaskFinished{"s1", 3, true, "ok"});
  auto results = sent<StolenResult>(done);
  REQUIRE(results.size() == 1);
  CHECK(results[0].attempt == 3);
  CHECK(done.sends.back().to_address == "sim://victim");
  CHECK(thief.state.running() == 0);
  // Unacknowledged: sent again after the retry interval.
  Effects retry = thief.at(20 + 200, in::Tick{});
  CHECK(sent<StolenResult>(retry).size() == 1);
  thief.peer(230, StolenResultAck{"s1", 3, true});
  CHECK(sent<StolenResult>(thief.at(20 + 600, in::Tick{})).empty());
  CHECK(thief.state.counters().at("stolen_results_committed") == 1);
}

TEST_CASE("stealing: error_text cuts a handler's output to what a log entry may carry") {
  std::string cut = error_text(std::string(limits::kMaxErrorBytes + 100, 'x'));
  CHECK(cut.size() == limits::kMaxErrorBytes);
  CHECK(decode_op(encode_op(OpFail{"t", 1, AttemptOutcome::kFailed, cut, 1, 2})).ok());
  CHECK(error_text("short") == "short");
}

}  // namespace
}  // namespace mesh
