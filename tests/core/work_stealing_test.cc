// The stealing rules of NodeState, one edge at a time: what a victim lends
// (as committed lease entries of the partition it leads), what a thief runs
// and reports, and how the partition's leader fences results.
//
// The victim founds a new mesh (in::Join with no seeds): it is the only voter
// of every partition group and leads them all from its first step, so a
// proposal commits within the step that makes it. The thief joins through
// the victim's address: it hosts no partition group, so everything it runs
// is stolen and its outcomes go back to the lender.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "node/core/node_state.h"
#include "node/core/partitioning.h"
#include "protocol/codec.h"
#include "protocol/limits.h"
#include "test_random.h"

namespace mesh {
namespace {

constexpr uint64_t kTtl = 1000;
constexpr uint64_t kRetry = 200;  // StealConfig::result_retry_ms
const std::string kVictim = "sim://victim";
const std::string kThief = "sim://thief";
// Every task of a loaded victim shares one key, hence one partition: its
// tasks are committed, and queued, in the order they were submitted.
const std::string kKey = "k";

NodeConfig config_for(const std::string& id, uint32_t slots, uint32_t batch_max) {
  NodeConfig config;
  config.node_id = id;
  config.address = "sim://" + id;
  config.slots = slots;
  config.lease_ahead_max = 0;  // a loaded victim keeps only what its slots run: the rest is there to lend
  config.lease_ttl_ms = kTtl;
  config.handlers = {"sleep"};
  config.steal.result_retry_ms = kRetry;
  config.steal.batch_max = batch_max;
  return config;
}

TaskSpec sleep_task(const std::string& id, std::string payload = "10") {
  TaskSpec t;
  t.id = id;
  t.handler = "sleep";
  t.payload = std::move(payload);
  t.key = kKey;
  return t;
}

uint32_t key_partition() { return partition_of(kKey, NodeConfig{}.ring.partitions); }

struct Node {
  explicit Node(const std::string& id, uint32_t slots = 1, uint32_t batch_max = StealConfig{}.batch_max)
      : random(7), state(config_for(id, slots, batch_max), random) {}
  // The state keeps a reference to `random`: a Node never moves.
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  Effects at(uint64_t now, InputEvent e) { return state.step(Input{now, std::move(e)}); }
  Effects peer(uint64_t now, PeerMessage m) { return at(now, in::FromPeer{std::move(m)}); }
  const TaskRecord& record(const std::string& id) const {
    const TaskRecord* r = state.find(id);
    REQUIRE_MESSAGE(r != nullptr, "no record of " << id);
    return *r;
  }
  uint64_t counter(const std::string& name) const {
    auto it = state.counters().find(name);
    return it == state.counters().end() ? 0 : it->second;
  }

  testing::SplitMix64 random;
  NodeState state;
};

// The messages of type T a step sends (membership and Raft traffic are other types).
template <typename T>
std::vector<T> sent(const Effects& fx) {
  std::vector<T> out;
  for (const auto& s : fx.sends) {
    if (const auto* m = std::get_if<T>(&s.message)) out.push_back(*m);
  }
  return out;
}

// Where the messages of type T of a step go, in order.
template <typename T>
std::vector<std::string> sent_to(const Effects& fx) {
  std::vector<std::string> out;
  for (const auto& s : fx.sends) {
    if (std::holds_alternative<T>(s.message)) out.push_back(s.to_address);
  }
  return out;
}

// The task ops among the log entries a step persists, in order.
template <typename Op>
std::vector<Op> persisted(const Effects& fx) {
  std::vector<Op> out;
  for (const auto& w : fx.raft_writes) {
    for (const auto& e : w.ready.entries) {
      if (e.type != EntryType::kNormal) continue;
      auto ops = decode_ops(e.data);
      REQUIRE(ops.ok());
      for (const auto& op : ops.value()) {
        if (const auto* o = std::get_if<Op>(&op)) out.push_back(*o);
      }
    }
  }
  return out;
}

// The log index at which a step persists the lease of `id`, or 0.
uint64_t lease_index(const Effects& fx, const std::string& id) {
  for (const auto& w : fx.raft_writes) {
    for (const auto& e : w.ready.entries) {
      auto ops = decode_ops(e.data);
      if (e.type != EntryType::kNormal || !ops.ok()) continue;
      for (const auto& op : ops.value()) {
        if (const auto* l = std::get_if<OpLease>(&op); l != nullptr && l->id == id) return e.index;
      }
    }
  }
  return 0;
}

// The highest commit index a step persists for a group, or 0.
uint64_t persisted_commit(const Effects& fx, uint32_t group) {
  uint64_t commit = 0;
  for (const auto& w : fx.raft_writes) {
    if (w.group == group && w.ready.hard_state) commit = std::max(commit, w.ready.hard_state->commit);
  }
  return commit;
}

// A node that founds a new mesh: it leads every partition from its first step.
void found(Node& node) {
  node.at(0, in::Join{});
  for (uint32_t p = 0; p < node.state.config().ring.partitions; ++p) REQUIRE(node.state.leads(p));
}

// A founding victim with its one slot busy with t0 and n - 1 more tasks waiting.
void load(Node& victim, size_t n) {
  found(victim);
  std::vector<TaskSpec> tasks;
  for (size_t i = 0; i < n; ++i) tasks.push_back(sleep_task("t" + std::to_string(i)));
  Effects fx = victim.at(1, in::Submit{1, tasks});
  REQUIRE(fx.replies.size() == 1);
  REQUIRE(fx.runs.size() == 1);
  REQUIRE(fx.runs[0].id == "t0");
  REQUIRE(victim.state.running() == 1);
}

// The victim's own run of t0 stays alive while the tests move time past a lease.
void renew_own(Node& victim, uint64_t now) {
  victim.at(now, in::RenewLeases{{RunRef{key_partition(), "t0", 1}}});
  REQUIRE(victim.record("t0").state == TaskState::kLeased);
  REQUIRE(victim.record("t0").lease_owner == "victim");
}

// A thief that joins the victim's mesh: it hosts no partition group.
void join_thief(Node& thief) {
  thief.at(0, in::Join{{kVictim}});
  for (uint32_t p = 0; p < thief.state.config().ring.partitions; ++p) REQUIRE(thief.state.group(p) == nullptr);
}

StealGrant steal(Node& victim, uint64_t now, uint32_t want = 16) {
  auto grants = sent<StealGrant>(victim.peer(now, StealRequest{"thief", kThief, want}));
  REQUIRE(grants.size() == 1);
  return grants[0];
}

std::vector<std::string> ids_of(const std::vector<RunTask>& tasks) {
  std::vector<std::string> ids;
  for (const auto& t : tasks) ids.push_back(t.id);
  return ids;
}

// --- the victim lends --------------------------------------------------------------

TEST_CASE("stealing: the victim lends half its excess, the tasks it would run last, durably") {
  Node victim("victim");
  load(victim, 9);  // t0 runs; t1..t8 wait
  Effects fx = victim.peer(10, StealRequest{"thief", kThief, 16});
  auto grants = sent<StealGrant>(fx);
  REQUIRE(grants.size() == 1);
  CHECK(sent_to<StealGrant>(fx) == std::vector<std::string>{kThief});
  CHECK(grants[0].victim_id == "victim");
  CHECK(grants[0].victim_address == kVictim);
  // Excess 8 (no free slot), half of it, from the back of the queue.
  CHECK(ids_of(grants[0].tasks) == std::vector<std::string>{"t8", "t7", "t6", "t5"});
  for (const auto& t : grants[0].tasks) {
    CHECK(t.attempt == 1);
    CHECK(t.handler == "sleep");
    CHECK(t.payload == "10");
    CHECK(t.timeout_ms == 60000);
    CHECK(t.partition == key_partition());
    const TaskRecord& r = victim.record(t.id);
    CHECK(r.state == TaskState::kLeased);
    CHECK(r.lease_owner == "thief");
    CHECK(r.attempt == 1);
    CHECK(r.lease_deadline_ms == 10 + kTtl);
    REQUIRE(r.attempts.size() == 1);
    CHECK(r.attempts[0].runner == "thief");
  }
  // The tasks it would run next stay home.
  for (const char* id : {"t1", "t2", "t3", "t4"}) CHECK(victim.record(id).state == TaskState::kPending);
  CHECK(fx.runs.empty());  // the victim runs none of the lent tasks
  // The leases are this step's log entries, synced before the grant leaves.
  auto leases = persisted<OpLease>(fx);
  REQUIRE(leases.size() == 4);
  for (const auto& l : leases) CHECK(l.owner == "thief");
  CHECK(victim.counter("tasks_lent") == 4);
  CHECK(victim.counter("steal_requests_received") == 1);
  REQUIRE_FALSE(victim.state.steal_history().recent().empty());
  CHECK(victim.state.steal_history().recent().back().thief == "thief");
  REQUIRE(victim.state.steal_history().totals().size() == 1);
  CHECK(victim.state.steal_history().totals()[0].tasks == 4);
}

TEST_CASE("stealing: a grant is bounded by what the thief wants and by batch_max") {
  SUBCASE("want") {
    Node victim("victim");
    load(victim, 9);
    CHECK(ids_of(steal(victim, 10, 1).tasks) == std::vector<std::string>{"t8"});
    CHECK(victim.counter("tasks_lent") == 1);
  }
  SUBCASE("batch_max") {
    Node victim("victim", 1, /*batch_max=*/2);
    load(victim, 9);
    CHECK(ids_of(steal(victim, 10, 16).tasks) == std::vector<std::string>{"t8", "t7"});
  }
  SUBCASE("half the excess, rounded down") {
    Node victim("victim");
    load(victim, 2);  // t0 runs, t1 waits: excess 1
    Effects fx = victim.peer(10, StealRequest{"thief", kThief, 16});
    auto grants = sent<StealGrant>(fx);
    REQUIRE(grants.size() == 1);
    CHECK(grants[0].tasks.empty());  // an empty grant still answers the request
    CHECK(persisted<OpLease>(fx).empty());
    CHECK(victim.record("t1").state == TaskState::kPending);
    CHECK(victim.counter("tasks_lent") == 0);
    CHECK(victim.counter("steal_requests_received") == 1);
  }
}

TEST_CASE("stealing: the grant leaves only in the step that persists its committed leases") {
  Node victim("victim");
  load(victim, 7);  // t0 runs; t1..t6 wait: three to lend
  Effects fx = victim.peer(10, StealRequest{"thief", kThief, 16});
  auto grants = sent<StealGrant>(fx);
  REQUIRE(grants.size() == 1);
  REQUIRE(grants[0].tasks.size() == 3);
  // The driver syncs the writes before it sends: the step that carries the
  // grant must carry the leases, and the commit that covers them.
  REQUIRE(fx.persists());
  auto leases = persisted<OpLease>(fx);
  REQUIRE(leases.size() == grants[0].tasks.size());
  for (const auto& t : grants[0].tasks) {
    auto l = std::find_if(leases.begin(), leases.end(), [&](const OpLease& x) { return x.id == t.id; });
    REQUIRE_MESSAGE(l != leases.end(), "no lease entry for " << t.id);
    CHECK(l->attempt == t.attempt);
    CHECK(l->owner == "thief");
    CHECK(l->at_ms == 10);
    CHECK(l->lease_deadline_ms == 10 + kTtl);
    CHECK(l->timeout_at_ms == 10 + t.timeout_ms);
    uint64_t index = lease_index(fx, t.id);
    CHECK(index > 0);
    CHECK(persisted_commit(fx, t.partition) >= index);
  }
  // The step after neither sends the grant again nor writes the leases again.
  Effects later = victim.at(11, in::Tick{});
  CHECK(sent<StealGrant>(later).empty());
  CHECK(persisted<OpLease>(later).empty());
  CHECK(victim.counter("tasks_lent") == 3);
}

TEST_CASE("stealing: tasks marked not stealable stay home, and a grant fits in one frame") {
  Node v2("victim");
  found(v2);
  std::vector<TaskSpec> tasks = {sleep_task("run-now")};
  for (int i = 0; i < 6; ++i) {
    TaskSpec p = sleep_task("pin-" + std::to_string(i));
    p.stealable = false;
    tasks.push_back(p);
  }
  v2.at(1, in::Submit{1, tasks});
  REQUIRE(v2.record("run-now").state == TaskState::kLeased);
  Effects pinned = v2.peer(2, StealRequest{"thief", kThief, 16});
  REQUIRE(sent<StealGrant>(pinned).size() == 1);
  CHECK(sent<StealGrant>(pinned)[0].tasks.empty());
  CHECK(persisted<OpLease>(pinned).empty());
  for (int i = 0; i < 6; ++i) CHECK(v2.record("pin-" + std::to_string(i)).state == TaskState::kPending);
  // They are still queued at home: the victim runs them as its slot frees.
  Effects next = v2.at(3, in::TaskFinished{key_partition(), "run-now", 1, true, "ok"});
  REQUIRE(next.runs.size() == 1);
  CHECK(next.runs[0].id == "pin-0");

  Node big("victim");
  found(big);
  std::vector<TaskSpec> heavy = {sleep_task("busy")};
  for (int i = 0; i < 40; ++i) {
    heavy.push_back(sleep_task("big-" + std::to_string(i), std::string(limits::kMaxPayloadBytes - 10, '7')));
  }
  big.at(1, in::Submit{1, heavy});
  StealGrant grant = steal(big, 2);
  size_t bytes = 0;
  for (const auto& t : grant.tasks) bytes += t.payload.size();
  CHECK_FALSE(grant.tasks.empty());
  CHECK(grant.tasks.size() < 16);  // the payload budget, not the count, stopped it
  CHECK(bytes <= limits::kMaxFrameBytes / 2);
  CHECK(encode_peer(grant).size() < limits::kMaxFrameBytes);
  // What did not fit stays home, pending.
  const TaskTable* table = big.state.table(key_partition());
  REQUIRE(table != nullptr);
  CHECK(table->count_in(TaskState::kLeased) == grant.tasks.size() + 1);
  CHECK(table->count_in(TaskState::kPending) == 40 - grant.tasks.size());
}

// --- the leader fences outcomes --------------------------------------------------------

TEST_CASE("stealing: the owner commits the current attempt once and fences everything else") {
  Node victim("victim");
  load(victim, 5);
  StealGrant grant = steal(victim, 10);
  REQUIRE(grant.tasks.size() == 2);
  const RunTask stolen = grant.tasks[0];

  SUBCASE("a result from another node than the lease holder is rejected") {
    Effects fx = victim.peer(20, StolenResult{"other", "sim://other", stolen.id, stolen.attempt, true, "x", key_partition()});
    auto acks = sent<StolenResultAck>(fx);
    REQUIRE(acks.size() == 1);
    CHECK(sent_to<StolenResultAck>(fx) == std::vector<std::string>{"sim://other"});
    CHECK(acks[0].id == stolen.id);
    CHECK(acks[0].attempt == stolen.attempt);
    CHECK_FALSE(acks[0].accepted);
    CHECK(persisted<OpComplete>(fx).empty());
    CHECK(victim.record(stolen.id).state == TaskState::kLeased);
    CHECK(victim.counter("stale_completions_rejected") == 1);
    CHECK(victim.counter("stolen_results_accepted") == 0);
  }
  // Only a leader whose table is behind (deposed without knowing it yet)
  // lacks an attempt a runner holds: its "fenced" would make the runner
  // drop a result the current leader awaits.
  SUBCASE("a result of an attempt the table has not applied gets no verdict") {
    Effects fx = victim.peer(20, StolenResult{"thief", kThief, stolen.id, stolen.attempt + 1, true, "x", key_partition()});
    CHECK(sent<StolenResultAck>(fx).empty());
    CHECK(persisted<OpComplete>(fx).empty());
    CHECK(victim.record(stolen.id).state == TaskState::kLeased);
    CHECK(victim.counter("stale_completions_rejected") == 0);
    CHECK(victim.counter("results_not_judged") == 1);
  }
  SUBCASE("the right result commits; its resend is acknowledged without a second commit") {
    Effects fx = victim.peer(20, StolenResult{"thief", kThief, stolen.id, stolen.attempt, true, "done", key_partition()});
    auto first = sent<StolenResultAck>(fx);
    REQUIRE(first.size() == 1);
    CHECK(first[0].accepted);
    CHECK(sent_to<StolenResultAck>(fx) == std::vector<std::string>{kThief});
    auto completes = persisted<OpComplete>(fx);
    REQUIRE(completes.size() == 1);
    CHECK(completes[0].id == stolen.id);
    CHECK(completes[0].attempt == stolen.attempt);
    const TaskRecord& r = victim.record(stolen.id);
    CHECK(r.state == TaskState::kCompleted);
    CHECK(r.result == "done");
    CHECK(victim.counter("stolen_results_accepted") == 1);

    Effects again = victim.peer(30, StolenResult{"thief", kThief, stolen.id, stolen.attempt, true, "done", key_partition()});
    REQUIRE(sent<StolenResultAck>(again).size() == 1);
    CHECK(sent<StolenResultAck>(again)[0].accepted);
    CHECK(persisted<OpComplete>(again).empty());
    CHECK_FALSE(again.persists());
    CHECK(victim.record(stolen.id).attempts.size() == 1);
    CHECK(victim.counter("stolen_results_accepted") == 1);
    CHECK(victim.counter("stale_completions_rejected") == 0);

    // A "resend" that contradicts the committed outcome is no resend.
    auto contradicting =
        sent<StolenResultAck>(victim.peer(40, StolenResult{"thief", kThief, stolen.id, stolen.attempt, false, "boom", key_partition()}));
    REQUIRE(contradicting.size() == 1);
    CHECK_FALSE(contradicting[0].accepted);
    CHECK(victim.record(stolen.id).state == TaskState::kCompleted);
    CHECK(victim.counter("stale_completions_rejected") == 1);
  }
  SUBCASE("renewals from the owner keep the lease alive; nobody else's do") {
    renew_own(victim, kTtl / 2);
    Effects fx = victim.peer(kTtl / 2, LeaseRenewal{"thief", {{stolen.id, stolen.attempt, key_partition()}}, kThief});
    auto renews = persisted<OpRenew>(fx);
    REQUIRE(renews.size() == 1);
    CHECK(renews[0].lease_deadline_ms == kTtl / 2 + kTtl);
    CHECK(victim.counter("stolen_leases_renewed") == 1);
    // Not the owner, not the attempt: ignored.
    const RunTask& other = grant.tasks[1];
    Effects ignored = victim.peer(kTtl / 2, LeaseRenewal{"other", {{other.id, other.attempt, key_partition()}}, kThief});
    CHECK(persisted<OpRenew>(ignored).empty());
    ignored = victim.peer(kTtl / 2, LeaseRenewal{"thief", {{other.id, other.attempt + 1, key_partition()}}, kThief});
    CHECK(persisted<OpRenew>(ignored).empty());
    CHECK(victim.counter("stolen_leases_renewed") == 1);

    victim.at(10 + kTtl, in::Tick{});
    CHECK(victim.record(stolen.id).state == TaskState::kLeased);
    CHECK(victim.record(stolen.id).lease_deadline_ms == kTtl / 2 + kTtl);
    CHECK(victim.record(other.id).state == TaskState::kPending);  // not renewed: expired
    CHECK(victim.counter("stolen_leases_expired") == 1);
  }
  SUBCASE("a failed stolen attempt goes back with backoff and a bounded error") {
    std::string long_error(limits::kMaxErrorBytes * 3, 'e');
    auto acks =
        sent<StolenResultAck>(victim.peer(20, StolenResult{"thief", kThief, stolen.id, stolen.attempt, false, long_error, key_partition()}));
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].accepted);
    const TaskRecord& r = victim.record(stolen.id);
    CHECK(r.state == TaskState::kPending);
    CHECK(r.failures == 1);
    CHECK(r.not_before_ms > 20);
    CHECK(r.error.size() == limits::kMaxErrorBytes);
    CHECK(r.attempts.back().outcome == AttemptOutcome::kFailed);
    CHECK(victim.counter("stolen_results_accepted") == 1);
  }
}

TEST_CASE("stealing: a node that does not lead the task's partition ignores a StolenResult") {
  SUBCASE("a node that hosts no partition group") {
    Node bystander("bystander");
    join_thief(bystander);
    Effects fx = bystander.peer(10, StolenResult{"thief", kThief, "t1", 1, true, "done", key_partition()});
    CHECK(sent<StolenResultAck>(fx).empty());
    CHECK(bystander.counter("results_for_other_leader") == 1);
    CHECK(bystander.counter("stale_completions_rejected") == 0);
  }
  SUBCASE("the victim once another replica has taken the partition's leadership") {
    Node victim("victim");
    load(victim, 5);
    StealGrant grant = steal(victim, 10);
    REQUIRE_FALSE(grant.tasks.empty());
    const RunTask stolen = grant.tasks[0];
    // A leader of a later term reaches the victim's replica of the partition.
    uint64_t term = victim.state.group(stolen.partition)->status().term;
    RaftMessage heartbeat = Heartbeat{stolen.partition, term + 1, "other#0", victim.state.replica_id(), 0, 0};
    victim.peer(20, RaftBatch{"other", {heartbeat}});
    REQUIRE_FALSE(victim.state.leads(stolen.partition));
    CHECK(victim.state.leads(stolen.partition == 0 ? 1 : 0));  // the other partitions are still its own

    Effects fx = victim.peer(21, StolenResult{"thief", kThief, stolen.id, stolen.attempt, true, "done", key_partition()});
    CHECK(sent<StolenResultAck>(fx).empty());  // silence: the thief tries its next candidate
    CHECK(persisted<OpComplete>(fx).empty());
    CHECK(victim.counter("results_for_other_leader") == 1);
    CHECK(victim.counter("stolen_results_accepted") == 0);
    CHECK(victim.counter("stale_completions_rejected") == 0);
    // The follower's replica still shows the lease; nothing was committed.
    CHECK(victim.record(stolen.id).state == TaskState::kLeased);
  }
}

// --- leases running out ---------------------------------------------------------------

TEST_CASE("stealing: a lease the thief stops renewing expires to PENDING, its late result is stale") {
  Node victim("victim");
  load(victim, 5);  // t0 runs; t1..t4 wait: two to lend
  Node thief("thief", 2);
  join_thief(thief);
  StealGrant grant = steal(victim, 10);
  REQUIRE(grant.tasks.size() == 2);
  const RunTask stolen = grant.tasks[0];
  Effects runs = thief.peer(11, grant);
  REQUIRE(runs.runs.size() == 2);

  renew_own(victim, kTtl / 2);
  victim.at(10 + kTtl - 1, in::Tick{});
  REQUIRE(victim.record(stolen.id).state == TaskState::kLeased);
  CHECK(victim.counter("stolen_leases_expired") == 0);

  // The thief goes quiet; the lease deadline passes.
  Effects expiry = victim.at(10 + kTtl, in::Tick{});
  CHECK(expiry.persists());
  auto releases = persisted<OpRelease>(expiry);
  CHECK(releases.size() == 2);
  const TaskRecord& r = victim.record(stolen.id);
  CHECK(r.state == TaskState::kPending);
  CHECK(r.lease_owner.empty());
  CHECK(r.failures == 0);  // a lost lease does not count against max_attempts
  CHECK(r.attempts.back().outcome == AttemptOutcome::kLost);
  CHECK(victim.counter("stolen_leases_expired") == 2);

  // The thief finishes after all and reports; the victim fences it.
  Effects done = thief.at(10 + kTtl + 50, in::TaskFinished{stolen.partition, stolen.id, stolen.attempt, true, "late"});
  auto results = sent<StolenResult>(done);
  REQUIRE(results.size() == 1);
  CHECK(sent_to<StolenResult>(done) == std::vector<std::string>{kVictim});
  Effects answer = victim.peer(10 + kTtl + 60, results[0]);
  auto acks = sent<StolenResultAck>(answer);
  REQUIRE(acks.size() == 1);
  CHECK_FALSE(acks[0].accepted);
  CHECK(persisted<OpComplete>(answer).empty());
  CHECK(victim.record(stolen.id).state == TaskState::kPending);
  CHECK(victim.record(stolen.id).result.empty());
  CHECK(victim.counter("stale_completions_rejected") == 1);
  CHECK(victim.counter("stolen_results_accepted") == 0);

  // The thief takes the refusal as final: no more resends.
  thief.peer(10 + kTtl + 70, acks[0]);
  CHECK(thief.counter("stolen_results_fenced") == 1);
  CHECK(thief.counter("stolen_results_committed") == 0);
  CHECK(sent<StolenResult>(thief.at(10 + kTtl + 70 + 5 * kRetry, in::Tick{})).empty());

  // The task can be lent again, under a new attempt that the old one cannot complete.
  StealGrant again = steal(victim, 10 + kTtl + 100, 1);
  REQUIRE(again.tasks.size() == 1);
  const RunTask& relent = again.tasks[0];
  REQUIRE(relent.id == stolen.id);  // released last, so at the back of the queue
  CHECK(relent.attempt == stolen.attempt + 1);
  auto old = sent<StolenResultAck>(
      victim.peer(10 + kTtl + 110, StolenResult{"thief", kThief, stolen.id, stolen.attempt, true, "late", key_partition()}));
  REQUIRE(old.size() == 1);
  CHECK_FALSE(old[0].accepted);
  CHECK(victim.record(stolen.id).state == TaskState::kLeased);
  CHECK(victim.record(stolen.id).attempt == stolen.attempt + 1);
  CHECK(victim.counter("stale_completions_rejected") == 2);
}

// Gossip from a third member: the thief is dead. The gossiper's replica id
// is unknown, so the partition groups stay single-voter.
Sync thief_dead_gossip() {
  return Sync{"gossiper", "sim://gossiper", /*reply=*/true,
              {MemberUpdate{"thief", kThief, 0, MemberState::kDead, {}, "thief#0"}}};
}

// The step that learns the thief is dead releases its leases (the callers
// make sure their deadline is still ahead); renewals from it change nothing after.
void check_released_for_death(Node& victim, const Effects& fx, const StealGrant& grant, uint64_t now) {
  CHECK(persisted<OpRelease>(fx).size() == grant.tasks.size());
  for (const auto& t : grant.tasks) {
    const TaskRecord& r = victim.record(t.id);
    CHECK(r.state == TaskState::kPending);
    CHECK(r.attempts.back().ended_ms == now);
    CHECK(r.attempts.back().outcome == AttemptOutcome::kLost);
    CHECK(r.failures == 0);
  }
  CHECK(victim.counter("stolen_leases_expired") == grant.tasks.size());
  uint64_t renewed = victim.counter("stolen_leases_renewed");
  const RunTask& stolen = grant.tasks[0];
  Effects renew = victim.peer(now + 1, LeaseRenewal{"thief", {{stolen.id, stolen.attempt, key_partition()}}, kThief});
  CHECK(persisted<OpRenew>(renew).empty());
  CHECK(victim.counter("stolen_leases_renewed") == renewed);
}

TEST_CASE("stealing: the victim releases the leases of a runner its membership declares dead") {
  Node victim("victim");
  load(victim, 5);
  // The thief is a member the victim knows alive (its replica id is not
  // known yet, so the groups stay single-voter).
  victim.peer(5, Sync{"thief", kThief, /*reply=*/true, {}});
  StealGrant grant = steal(victim, 10);
  REQUIRE(grant.tasks.size() == 2);
  renew_own(victim, 400);
  std::vector<AttemptRef> running;
  for (const auto& t : grant.tasks) running.push_back({t.id, t.attempt, t.partition});
  victim.peer(400, LeaseRenewal{"thief", running, kThief});
  REQUIRE(victim.counter("stolen_leases_renewed") == 2);
  victim.at(450, in::Tick{});
  uint64_t now = 500;
  for (const auto& t : grant.tasks) {
    REQUIRE(victim.record(t.id).state == TaskState::kLeased);
    REQUIRE(victim.record(t.id).lease_deadline_ms == 400 + kTtl);
  }

  Effects fx = victim.peer(now, thief_dead_gossip());
  check_released_for_death(victim, fx, grant, now);
}

// A member first heard of as DEAD is news to the view (view_version()), so
// the victim's cached liveness check sees it in the same step.
TEST_CASE("stealing: the victim releases the leases of a runner first heard of as dead") {
  Node victim("victim");
  load(victim, 5);
  StealGrant grant = steal(victim, 10);  // the thief is not in the victim's view at all
  REQUIRE(grant.tasks.size() == 2);
  renew_own(victim, 100);  // a step that checks the runner's liveness: not known dead
  uint64_t now = 500;
  for (const auto& t : grant.tasks) {
    REQUIRE(victim.record(t.id).state == TaskState::kLeased);
    REQUIRE(victim.record(t.id).lease_deadline_ms == 10 + kTtl);
  }
  uint64_t view = victim.state.membership().view_version();
  Effects fx = victim.peer(now, thief_dead_gossip());
  CHECK(victim.state.membership().view_version() != view);  // two members appeared: the view changed
  check_released_for_death(victim, fx, grant, now);
}

// Granting to a thief held dead would lose each lease at once ("runner
// declared dead"), and max_lost_attempts such losses fail the task: found by
// the transactions simulator family (seed 715560768).
TEST_CASE("stealing: a thief the victim holds dead gets an empty grant, and its tasks stay queued") {
  Node victim("victim");
  load(victim, 9);
  victim.peer(5, thief_dead_gossip());
  Effects fx = victim.peer(10, StealRequest{"thief", kThief, 16});
  auto grants = sent<StealGrant>(fx);
  REQUIRE(grants.size() == 1);
  CHECK(grants[0].tasks.empty());
  CHECK(persisted<OpLease>(fx).empty());
  for (int i = 1; i < 9; ++i) CHECK(victim.record("t" + std::to_string(i)).state == TaskState::kPending);
  CHECK(victim.counter("tasks_lent") == 0);
}

// --- the thief ------------------------------------------------------------------------

TEST_CASE("stealing: the thief runs a grant, renews it, and reports each result until acknowledged") {
  Node thief("thief", 2);
  join_thief(thief);
  const uint32_t part = 5;
  Effects fx = thief.peer(5, StealGrant{"victim", kVictim, {{"s1", 3, "sleep", "10", 60000, part}}});
  REQUIRE(fx.runs.size() == 1);
  CHECK(fx.runs[0].id == "s1");
  CHECK(fx.runs[0].attempt == 3);
  CHECK(fx.runs[0].partition == part);
  CHECK(thief.state.running() == 1);
  CHECK(thief.counter("tasks_stolen") == 1);

  // Renewals go to the lender (the thief knows no leader of the partition).
  Effects renew = thief.at(10, in::RenewLeases{{{part, "s1", 3}, {part, "s1", 2}, {part, "unknown", 1}}});
  auto renewals = sent<LeaseRenewal>(renew);
  REQUIRE(renewals.size() == 1);
  CHECK(sent_to<LeaseRenewal>(renew) == std::vector<std::string>{kVictim});
  CHECK(renewals[0].thief_id == "thief");
  REQUIRE(renewals[0].running.size() == 1);
  CHECK(renewals[0].running[0].id == "s1");
  CHECK(renewals[0].running[0].attempt == 3);

  // A finish of another attempt is not this run's.
  CHECK(sent<StolenResult>(thief.at(15, in::TaskFinished{part, "s1", 2, true, "old"})).empty());
  CHECK(thief.counter("stale_completions_rejected") == 1);
  CHECK(thief.state.running() == 1);

  Effects done = thief.at(20, in::TaskFinished{part, "s1", 3, true, "ok"});
  auto results = sent<StolenResult>(done);
  REQUIRE(results.size() == 1);
  CHECK(results[0].thief_id == "thief");
  CHECK(results[0].thief_address == kThief);
  CHECK(results[0].id == "s1");
  CHECK(results[0].attempt == 3);
  CHECK(results[0].ok);
  CHECK(results[0].output == "ok");
  CHECK(sent_to<StolenResult>(done) == std::vector<std::string>{kVictim});
  CHECK_FALSE(done.persists());  // the thief commits nothing itself
  CHECK(thief.state.running() == 0);
  CHECK(thief.counter("stolen_attempts_finished") == 1);
  // Unacknowledged: sent again after the retry interval, not before.
  CHECK(sent<StolenResult>(thief.at(20 + kRetry - 1, in::Tick{})).empty());
  Effects retry = thief.at(20 + kRetry, in::Tick{});
  CHECK(sent<StolenResult>(retry).size() == 1);
  CHECK(sent_to<StolenResult>(retry) == std::vector<std::string>{kVictim});
  CHECK(thief.counter("stolen_results_resent") == 1);
  // An ack of another attempt is not this result's.
  thief.peer(225, StolenResultAck{"s1", 2, true, part});
  CHECK(thief.counter("stolen_results_committed") == 0);
  thief.peer(230, StolenResultAck{"s1", 3, true, part});
  CHECK(thief.counter("stolen_results_committed") == 1);
  CHECK(sent<StolenResult>(thief.at(20 + 600, in::Tick{})).empty());
  CHECK(thief.counter("stolen_results_resent") == 1);
}

TEST_CASE("stealing: a runner whose attempt ended meanwhile hears it at its next renewal, and stops the run") {
  Node victim("victim");
  load(victim, 5);  // t0 runs; t1..t4 wait
  Node thief("thief", 2);
  join_thief(thief);
  StealGrant grant = steal(victim, 10, 2);
  REQUIRE(ids_of(grant.tasks) == std::vector<std::string>{"t4", "t3"});
  Effects started = thief.peer(11, grant);
  REQUIRE(started.runs.size() == 2);
  // The victim's table ends t4's attempt while the thief runs it (an
  // operator's cancel here; a backup that completed first works the same).
  victim.at(12, in::Cancel{7, {"t4"}});
  REQUIRE(victim.record("t4").state == TaskState::kCancelled);
  // The thief's renewal names both: t3 is still its lease (renewed, no
  // verdict); t4 ended, and the victim says so; an attempt the victim's
  // table has never seen gets no verdict either (its table may be behind).
  const uint32_t part = key_partition();
  Effects answer = victim.peer(20, LeaseRenewal{"thief", {{"t4", 1, part, 5}, {"t3", 1, part, 5}, {"t2", 9, part, 5}}, kThief});
  auto acks = sent<StolenResultAck>(answer);
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].id == "t4");
  CHECK(acks[0].attempt == 1);
  CHECK_FALSE(acks[0].accepted);
  CHECK(persisted<OpRenew>(answer).size() == 1);
  // The thief stops the run at once, and frees its slot.
  Effects stopped = thief.peer(21, acks[0]);
  REQUIRE(stopped.aborts.size() == 1);
  CHECK(stopped.aborts[0].id == "t4");
  CHECK(stopped.aborts[0].attempt == 1);
  CHECK(thief.counter("runs_fenced") == 1);
  CHECK(thief.state.running() == 1);
  // Its late finish is stale: nothing is sent for it.
  CHECK(sent<StolenResult>(thief.at(22, in::TaskFinished{part, "t4", 1, false, "exec: cancelled"})).empty());
  // An ack for an attempt it does not run changes nothing.
  CHECK(thief.peer(23, StolenResultAck{"t3", 2, false, part}).aborts.empty());
  CHECK(thief.state.running() == 1);
}

TEST_CASE("stealing: a grant of a newer attempt of a task this node still runs stops the older run") {
  // A backup's runner whose lease lapsed (its renewals were late) is picked
  // again for the next backup: the old run could never commit.
  Node thief("thief", 2);
  join_thief(thief);
  const uint32_t part = 5;
  REQUIRE(thief.peer(5, StealGrant{"victim", kVictim, {{"s1", 2, "sleep", "10", 60000, part}}}).runs.size() == 1);
  Effects again = thief.peer(6, StealGrant{"victim", kVictim, {{"s1", 3, "sleep", "10", 60000, part}}});
  REQUIRE(again.aborts.size() == 1);
  CHECK(again.aborts[0].attempt == 2);
  REQUIRE(again.runs.size() == 1);
  CHECK(again.runs[0].attempt == 3);
  CHECK(thief.state.running() == 1);
  CHECK(thief.counter("runs_fenced") == 1);
  // The old run's finish is stale.
  CHECK(sent<StolenResult>(thief.at(7, in::TaskFinished{part, "s1", 2, true, "old"})).empty());
}

TEST_CASE("stealing: a stolen task waits for a free slot, and its timeout starts when it runs") {
  Node thief("thief", 1);
  join_thief(thief);
  const uint32_t part = 5;
  Effects fx = thief.peer(5, StealGrant{"victim", kVictim, {{"s1", 1, "sleep", "10", 1000, part},
                                                           {"s2", 1, "sleep", "10", 1000, part}}});
  REQUIRE(ids_of(fx.runs) == std::vector<std::string>{"s1"});  // one slot: the other waits here
  CHECK(thief.state.running() == 1);
  // The waiting attempt is renewed too, and says it has not run yet.
  auto renewals = sent<LeaseRenewal>(thief.at(500, in::RenewLeases{{{part, "s1", 1}}}));
  REQUIRE(renewals.size() == 1);
  REQUIRE(renewals[0].running.size() == 2);
  for (const auto& ref : renewals[0].running) CHECK(ref.ran_ms == (ref.id == "s1" ? 495 : 0));
  // s1 ends at 900: s2 starts then, with its whole timeout ahead.
  Effects done = thief.at(900, in::TaskFinished{part, "s1", 1, true, "ok"});
  REQUIRE(ids_of(done.runs) == std::vector<std::string>{"s2"});
  CHECK(thief.at(1100, in::Tick{}).aborts.empty());  // 1,095 ms after the grant, 200 ms into its run
  Effects late = thief.at(1900, in::Tick{});
  REQUIRE(late.aborts.size() == 1);
  CHECK(late.aborts[0].id == "s2");
  CHECK(thief.counter("stolen_attempts_timed_out") == 1);
}

TEST_CASE("stealing: the leader times out a stolen attempt from when its runner started it") {
  Node victim("victim", 1);
  load(victim, 6);
  renew_own(victim, 2);
  StealGrant grant = steal(victim, 3, 2);
  REQUIRE(grant.tasks.size() == 2);
  const TaskSpec spec = sleep_task("x");
  const uint64_t timeout = spec.timeout_ms;
  const uint32_t part = key_partition();
  // The runner keeps renewing: the first attempt runs from the start, the
  // second waits for its slot until `timeout` has passed, then runs.
  uint64_t now = 3;
  for (; now < timeout + 500; now += kTtl / 3) {
    victim.peer(now, LeaseRenewal{"thief", {{grant.tasks[0].id, grant.tasks[0].attempt, part, now - 3},
                                            {grant.tasks[1].id, grant.tasks[1].attempt, part, 0}}, kThief});
  }
  CHECK(victim.record(grant.tasks[1].id).state == TaskState::kLeased);  // waited longer than its timeout: still leased
  const TaskRecord& first = victim.record(grant.tasks[0].id);
  CHECK(first.state != TaskState::kLeased);  // ran past its timeout: failed
  CHECK(first.attempts.back().outcome == AttemptOutcome::kTimedOut);
}

TEST_CASE("stealing: the thief resends to its lender, then the partition's other candidates in turn") {
  Node thief("thief", 2);
  join_thief(thief);
  // The thief hears of another member, which the ring makes a replica of
  // every partition (two live nodes, three replicas wanted).
  thief.peer(1, Sync{"peer-b", "sim://peer-b", true,
                     {MemberUpdate{"peer-b", "sim://peer-b", 0, MemberState::kAlive, {}, "peer-b#0"}}});
  const uint32_t part = 9;
  thief.peer(5, StealGrant{"victim", kVictim, {{"s1", 1, "sleep", "10", 60000, part}}});
  std::vector<std::string> targets = sent_to<StolenResult>(thief.at(20, in::TaskFinished{part, "s1", 1, true, "ok"}));
  for (uint64_t i = 1; i <= 3; ++i) {
    auto to = sent_to<StolenResult>(thief.at(20 + i * kRetry, in::Tick{}));
    targets.insert(targets.end(), to.begin(), to.end());
  }
  CHECK(targets == std::vector<std::string>{kVictim, "sim://peer-b", kVictim, "sim://peer-b"});
  CHECK(thief.counter("stolen_results_resent") == 3);
}

TEST_CASE("stealing: the thief gives up on a result nobody acknowledges") {
  Node thief("thief", 1);
  join_thief(thief);
  thief.peer(5, StealGrant{"victim", kVictim, {{"s1", 1, "sleep", "10", 60000, 3}}});
  size_t sends = sent<StolenResult>(thief.at(20, in::TaskFinished{3, "s1", 1, false, "err"})).size();
  uint64_t now = 20;
  for (; now < 20 + kResultLeaseLengths * kTtl + 2 * kRetry; now += kRetry / 2) {
    sends += sent<StolenResult>(thief.at(now, in::Tick{})).size();
  }
  CHECK(thief.counter("stolen_results_abandoned") == 1);
  CHECK(sends >= kResultLeaseLengths * kTtl / kRetry);  // resent every retry interval until then
  CHECK(sends <= kResultLeaseLengths * kTtl / kRetry + 1);
  CHECK(sent<StolenResult>(thief.at(now + 10 * kRetry, in::Tick{})).empty());
}

// --- both ends --------------------------------------------------------------------------

TEST_CASE("stealing: a steal end to end, between a victim and a thief") {
  Node victim("victim");
  load(victim, 7);
  Node thief("thief", 3);
  join_thief(thief);

  StealGrant grant = steal(victim, 10);
  REQUIRE(grant.tasks.size() == 3);
  Effects runs = thief.peer(11, grant);
  REQUIRE(runs.runs.size() == 3);
  CHECK(thief.state.running() == 3);

  // The thief renews past the first lease deadline.
  renew_own(victim, 500);
  std::vector<RunRef> running;
  for (const auto& t : grant.tasks) running.push_back({t.partition, t.id, t.attempt});
  for (const auto& m : sent<LeaseRenewal>(thief.at(600, in::RenewLeases{running}))) victim.peer(601, m);
  CHECK(victim.counter("stolen_leases_renewed") == 3);
  victim.at(10 + kTtl, in::Tick{});
  for (const auto& t : grant.tasks) CHECK(victim.record(t.id).state == TaskState::kLeased);

  // Each outcome travels to the victim and its ack back.
  for (const auto& t : grant.tasks) {
    bool ok = t.id != grant.tasks.back().id;
    auto results = sent<StolenResult>(thief.at(1100, in::TaskFinished{t.partition, t.id, t.attempt, ok, ok ? "r-" + t.id : "bad"}));
    REQUIRE(results.size() == 1);
    auto acks = sent<StolenResultAck>(victim.peer(1101, results[0]));
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].accepted);
    thief.peer(1102, acks[0]);
  }
  for (const auto& t : grant.tasks) {
    const TaskRecord& r = victim.record(t.id);
    if (t.id != grant.tasks.back().id) {
      CHECK(r.state == TaskState::kCompleted);
      CHECK(r.result == "r-" + t.id);
      CHECK(r.attempts.back().runner == "thief");
    } else {
      CHECK(r.state == TaskState::kPending);  // failed once: retried after backoff
      CHECK(r.failures == 1);
    }
  }
  CHECK(victim.counter("tasks_lent") == 3);
  CHECK(victim.counter("stolen_results_accepted") == 3);
  CHECK(victim.counter("stale_completions_rejected") == 0);
  CHECK(thief.counter("tasks_stolen") == 3);
  CHECK(thief.counter("stolen_attempts_finished") == 3);
  CHECK(thief.counter("stolen_results_committed") == 3);
  CHECK(thief.counter("stolen_results_fenced") == 0);
  CHECK(thief.state.running() == 0);
  CHECK(sent<StolenResult>(thief.at(1100 + 5 * kRetry, in::Tick{})).empty());
}

TEST_CASE("stealing: error_text cuts a handler's output to what a log entry may carry") {
  std::string cut = error_text(std::string(limits::kMaxErrorBytes + 100, 'x'));
  CHECK(cut.size() == limits::kMaxErrorBytes);
  CHECK(decode_op(encode_op(OpFail{"t", 1, AttemptOutcome::kFailed, cut, 1, 2})).ok());
  CHECK(error_text("short") == "short");
}

}  // namespace
}  // namespace mesh
