// Unit tests of RaftGroup, one rule per test, on a hand-driven cluster: the
// test decides when time passes, which replica's timer runs out and which
// messages are lost. The k-th replica's election timeout is fixed at
// election_timeout_ms + 10k ms (FixedRandom), so timers never tie.
#include "node/core/raft.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "test_random.h"

namespace mesh {
namespace {

using testing::FixedRandom;

constexpr uint32_t kGroup = 9;
constexpr uint64_t kElectionMs = 100;
constexpr uint64_t kHeartbeatMs = 10;

RaftConfig test_config(size_t max_entries = 64, size_t max_inflight = 8) {
  RaftConfig c;
  c.group = kGroup;
  c.election_timeout_ms = kElectionMs;
  c.heartbeat_interval_ms = kHeartbeatMs;
  c.max_entries_per_append = max_entries;
  c.max_inflight = max_inflight;
  return c;
}

// What a host keeps on disk, written only through the Ready contract.
struct Disk {
  HardState hard;
  Snapshot snapshot;
  std::vector<LogEntry> entries;

  void persist(const Ready& r) {
    if (r.snapshot) {
      snapshot = *r.snapshot;
      entries.clear();
    }
    if (r.truncate_from) std::erase_if(entries, [&](const LogEntry& e) { return e.index >= *r.truncate_from; });
    entries.insert(entries.end(), r.entries.begin(), r.entries.end());
    if (r.hard_state) hard = *r.hard_state;
  }
};

struct Replica {
  std::string id;
  std::unique_ptr<FixedRandom> random;
  Disk disk;
  std::unique_ptr<RaftGroup> group;
  std::vector<LogEntry> applied;  // this incarnation, after any snapshot it loaded
  std::optional<Snapshot> loaded;
  std::vector<ReadState> reads;
  std::vector<uint64_t> failed_reads;
  std::vector<Ready> readies;  // everything taken, for inspection

  std::vector<std::string> applied_data() const {
    std::vector<std::string> out;
    for (const auto& e : applied) {
      if (e.type == EntryType::kNormal) out.push_back(e.data);
    }
    return out;
  }
};

// A cluster driven by hand: messages queue up and are delivered by settle();
// cut links and the drop filter lose them.
class Cluster {
 public:
  explicit Cluster(std::vector<std::string> voters, RaftConfig config = test_config()) : config_(config) {
    for (const auto& id : voters) {
      Replica& r = replicas_[id];
      r.id = id;
      RaftDisk founding = RaftDisk::founding(voters);
      r.disk.snapshot = founding.snapshot;
      start(r);
    }
  }

  // A replica with an empty disk that waits to be added.
  void add_empty(const std::string& id) {
    Replica& r = replicas_[id];
    r.id = id;
    start(r);
  }

  RaftGroup& operator[](const std::string& id) { return *replicas_.at(id).group; }
  Replica& replica(const std::string& id) { return replicas_.at(id); }

  // Takes every Ready and honours it: persist, queue the messages, apply.
  void flush() {
    for (auto& [id, r] : replicas_) {
      while (r.group && r.group->has_ready()) {
        Ready ready = r.group->take_ready();
        r.disk.persist(ready);
        for (const auto& m : ready.messages) {
          queue_.push_back(m);
          sent.push_back(m);
        }
        if (ready.snapshot) {
          r.loaded = ready.snapshot;
          r.applied.clear();
        }
        r.applied.insert(r.applied.end(), ready.committed.begin(), ready.committed.end());
        r.reads.insert(r.reads.end(), ready.read_states.begin(), ready.read_states.end());
        r.failed_reads.insert(r.failed_reads.end(), ready.failed_reads.begin(), ready.failed_reads.end());
        r.readies.push_back(std::move(ready));
      }
    }
  }

  // Delivers messages, and those they cause, until none is left.
  void settle() {
    for (int guard = 0; guard < 1000000; ++guard) {
      flush();
      if (queue_.empty()) return;
      RaftMessage m = std::move(queue_.front());
      queue_.pop_front();
      Replica* to = find(receiver_of(m));
      if (to == nullptr || !to->group || cut_.count({sender_of(m), receiver_of(m)}) || (drop && drop(m))) continue;
      to->group->step(now, m);
    }
    FAIL("messages never settle");
  }

  // The replica's election timer runs out (nobody else's timer is ticked).
  void campaign(const std::string& id) {
    now += 2 * kElectionMs;
    (*this)[id].tick(now);
    settle();
  }

  // Time passes in heartbeat steps, ticking every live replica.
  void elapse(uint64_t ms) {
    for (uint64_t end = now + ms; now < end;) {
      now += kHeartbeatMs;
      for (auto& [id, r] : replicas_) {
        if (r.group) r.group->tick(now);
      }
      settle();
    }
  }

  void heartbeat(const std::string& leader) {
    now += kHeartbeatMs;
    (*this)[leader].tick(now);
    settle();
  }

  void isolate(const std::string& id) {
    for (const auto& [other, r] : replicas_) {
      cut_.insert({id, other});
      cut_.insert({other, id});
    }
  }
  void cut(const std::string& a, const std::string& b) {
    cut_.insert({a, b});
    cut_.insert({b, a});
  }
  void heal() { cut_.clear(); }

  void crash(const std::string& id) { replicas_.at(id).group.reset(); }
  void restart(const std::string& id) { start(replicas_.at(id)); }

  std::vector<std::string> leaders() const {
    std::vector<std::string> out;
    for (const auto& [id, r] : replicas_) {
      if (r.group && r.group->role() == RaftRole::kLeader) out.push_back(id);
    }
    return out;
  }

  template <typename M>
  std::vector<M> sent_of(const std::function<bool(const M&)>& keep = nullptr) const {
    std::vector<M> out;
    for (const auto& m : sent) {
      if (const M* x = std::get_if<M>(&m); x != nullptr && (!keep || keep(*x))) out.push_back(*x);
    }
    return out;
  }

  uint64_t now = 0;
  std::vector<RaftMessage> sent;
  std::function<bool(const RaftMessage&)> drop;

 private:
  void start(Replica& r) {
    if (!r.random) r.random = std::make_unique<FixedRandom>(10 * (replicas_.size() - 1));
    RaftDisk disk{r.disk.hard, r.disk.snapshot, r.disk.entries, r.disk.snapshot.meta.index};
    r.group = std::make_unique<RaftGroup>(config_, r.id, *r.random, std::move(disk), now);
    r.applied.clear();
  }
  Replica* find(const std::string& id) {
    auto it = replicas_.find(id);
    return it == replicas_.end() ? nullptr : &it->second;
  }

  RaftConfig config_;
  std::map<std::string, Replica> replicas_;
  std::deque<RaftMessage> queue_;
  std::set<std::pair<std::string, std::string>> cut_;
};

// Campaigns until `id` leads: a first attempt may only teach it a newer term.
void elect(Cluster& c, const std::string& id) {
  for (int attempt = 0; attempt < 3 && c[id].role() != RaftRole::kLeader; ++attempt) c.campaign(id);
  REQUIRE(c[id].role() == RaftRole::kLeader);
}

std::vector<uint64_t> log_terms(const RaftGroup& g) {
  std::vector<uint64_t> out;
  for (uint64_t i = g.log().first_index(); i <= g.log().last_index(); ++i) out.push_back(g.log().at(i).term);
  return out;
}

// ---------------------------------------------------------------------------------
// Elections

TEST_CASE("raft: a lone voter elects itself and commits its proposals at once") {
  Cluster c({"a"});
  c.campaign("a");
  REQUIRE(c["a"].role() == RaftRole::kLeader);
  CHECK(c["a"].term() == 1);
  CHECK(c["a"].commit_index() == 1);  // its no-op
  Result<uint64_t> index = c["a"].propose("x");
  REQUIRE(index.ok());
  CHECK(index.value() == 2);
  Ready ready = c["a"].take_ready();
  REQUIRE(ready.entries.size() == 1);  // persisted and applied through the same Ready
  CHECK(ready.entries[0].data == "x");
  REQUIRE(ready.committed.size() == 1);
  CHECK(ready.committed[0].data == "x");
  CHECK(ready.hard_state->commit == 2);
}

// A leader's appends may leave before its own write when its commits need
// another voter's acknowledgement, which comes after that write. A lone
// voter commits its unwritten entries at once (and takes a new term in the
// same step as it leads): its messages to learners carry a commit index and
// a term its disk may never get, so they wait.
TEST_CASE("raft: a lone voter's messages wait for its write; a leader of three's may go before it") {
  Cluster lone({"a"});
  lone.add_empty("b");
  lone.now += 2 * kElectionMs;
  lone["a"].tick(lone.now);
  Ready elected = lone["a"].take_ready();
  REQUIRE(lone["a"].role() == RaftRole::kLeader);
  CHECK(elected.must_sync);
  CHECK_FALSE(elected.messages_may_precede_sync);
  lone.settle();
  REQUIRE(lone["a"].propose_add_learner("b").ok());
  lone.settle();
  REQUIRE(lone["b"].commit_index() == lone["a"].commit_index());
  REQUIRE(lone["a"].propose("x").ok());
  Ready lone_ready = lone["a"].take_ready();
  REQUIRE_FALSE(lone_ready.messages.empty());  // the append to learner b, committing x
  CHECK(lone_ready.committed.size() == 1);
  CHECK_FALSE(lone_ready.messages_may_precede_sync);

  Cluster three({"a", "b", "c"});
  elect(three, "a");
  REQUIRE(three["a"].propose("y").ok());
  Ready leader_ready = three["a"].take_ready();
  REQUIRE_FALSE(leader_ready.messages.empty());
  CHECK(leader_ready.committed.empty());  // y waits for an acknowledgement
  CHECK(leader_ready.messages_may_precede_sync);
}

TEST_CASE("raft: the election timeout is drawn between T and 2T") {
  auto campaigns_at = [](uint64_t random_value, uint64_t at_ms) {
    FixedRandom random(random_value);
    RaftGroup g(test_config(), "a", random, RaftDisk::founding({"a", "b", "c"}), 0);
    g.tick(at_ms);
    return g.role() == RaftRole::kPreCandidate;
  };
  CHECK_FALSE(campaigns_at(0, kElectionMs - 1));
  CHECK(campaigns_at(0, kElectionMs));
  CHECK_FALSE(campaigns_at(kElectionMs - 1, 2 * kElectionMs - 2));
  CHECK(campaigns_at(kElectionMs - 1, 2 * kElectionMs - 1));
}

TEST_CASE("raft: three replicas elect one leader, pre-vote first") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  CHECK(c.leaders() == std::vector<std::string>{"a"});
  for (const char* id : {"a", "b", "c"}) {
    CHECK(c[id].term() == 1);
    CHECK(c[id].leader_id() == "a");
    CHECK(c[id].commit_index() == 1);  // the leader's no-op
  }
  auto pre = c.sent_of<VoteRequest>([](const VoteRequest& v) { return v.pre_vote; });
  auto real = c.sent_of<VoteRequest>([](const VoteRequest& v) { return !v.pre_vote; });
  REQUIRE(pre.size() == 2);
  CHECK(pre[0].term == 1);  // asked about term 1 while still at term 0
  REQUIRE(real.size() == 2);
  CHECK(real[0].term == 1);
}

TEST_CASE("raft: a vote goes out in the same Ready as the hard state that records it") {
  FixedRandom random(0);
  RaftGroup b(test_config(), "b", random, RaftDisk::founding({"a", "b", "c"}), 0);
  b.step(0, VoteRequest{kGroup, 1, "a", "b", 0, 0, false, false});
  Ready ready = b.take_ready();
  REQUIRE(ready.hard_state);
  CHECK(ready.hard_state->term == 1);
  CHECK(ready.hard_state->vote == "a");
  REQUIRE(ready.messages.size() == 1);
  const auto& response = std::get<VoteResponse>(ready.messages[0]);
  CHECK(response.granted);
  CHECK(response.term == 1);

  // One vote per term: c is refused in term 1, even with a longer log.
  b.step(0, VoteRequest{kGroup, 1, "c", "b", 5, 1, false, false});
  ready = b.take_ready();
  REQUIRE(ready.messages.size() == 1);
  CHECK_FALSE(std::get<VoteResponse>(ready.messages[0]).granted);
  CHECK_FALSE(ready.hard_state);
}

TEST_CASE("raft: a replica restarted from its disk does not vote twice in a term") {
  Cluster c({"a", "b", "c"});
  c["b"].step(c.now, VoteRequest{kGroup, 1, "a", "b", 0, 0, false, false});
  c.flush();
  c.crash("b");
  c.restart("b");
  CHECK(c["b"].term() == 1);
  c["b"].step(c.now, VoteRequest{kGroup, 1, "c", "b", 0, 0, false, false});
  c.flush();
  auto answers = c.sent_of<VoteResponse>([](const VoteResponse& v) { return v.to == "c"; });
  REQUIRE(answers.size() == 1);
  CHECK_FALSE(answers[0].granted);
}

TEST_CASE("raft: an append is acknowledged in the same Ready that persists it") {
  FixedRandom random(0);
  RaftGroup b(test_config(), "b", random, RaftDisk::founding({"a", "b", "c"}), 0);
  b.step(0, AppendRequest{kGroup, 1, "a", "b", 0, 0, 0, {LogEntry{1, 1, EntryType::kNoop, {}, {}}}});
  Ready ready = b.take_ready();
  REQUIRE(ready.entries.size() == 1);
  REQUIRE(ready.hard_state);
  CHECK(ready.hard_state->term == 1);
  REQUIRE(ready.messages.size() == 1);
  const auto& ack = std::get<AppendResponse>(ready.messages[0]);
  CHECK(ack.success);
  CHECK(ack.match_index == 1);
}

TEST_CASE("raft: a candidate with a less up-to-date log gets no vote") {
  FixedRandom random(0);
  RaftDisk disk = RaftDisk::founding({"a", "b", "c"});
  disk.hard_state.term = 2;
  disk.entries = {LogEntry{1, 1, EntryType::kNoop, {}, {}}, LogEntry{2, 2, EntryType::kNoop, {}, {}}};
  RaftGroup b(test_config(), "b", random, disk, 0);
  b.step(0, VoteRequest{kGroup, 3, "a", "b", 9, 1, false, false});  // longer, but an older last term
  Ready ready = b.take_ready();
  CHECK_FALSE(std::get<VoteResponse>(ready.messages[0]).granted);
  CHECK(b.term() == 3);
  CHECK(ready.hard_state->vote.empty());
}

TEST_CASE("raft: pre-votes change nobody's term, so a returning replica does not disrupt the leader") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  c.isolate("c");
  c.elapse(20 * kElectionMs);  // c campaigns again and again, alone
  CHECK(c["c"].term() == 1);
  CHECK(c["c"].role() == RaftRole::kPreCandidate);
  CHECK(c["a"].role() == RaftRole::kLeader);
  CHECK(c["b"].term() == 1);

  c.heal();
  c.elapse(3 * kElectionMs);
  CHECK(c.leaders() == std::vector<std::string>{"a"});
  CHECK(c["a"].term() == 1);
  CHECK(c["c"].role() == RaftRole::kFollower);
  CHECK(c["c"].leader_id() == "a");
}

TEST_CASE("raft: a pre-vote answer does not change the voter's term or vote") {
  FixedRandom random(0);
  RaftGroup b(test_config(), "b", random, RaftDisk::founding({"a", "b", "c"}), 0);
  b.step(0, VoteRequest{kGroup, 1, "a", "b", 0, 0, false, false});
  b.take_ready();
  b.step(0, VoteRequest{kGroup, 5, "c", "b", 0, 0, true, false});  // pre-vote for term 5
  Ready ready = b.take_ready();
  const auto& response = std::get<VoteResponse>(ready.messages[0]);
  CHECK(response.granted);
  CHECK(response.term == 5);
  CHECK(b.term() == 1);
  CHECK_FALSE(ready.hard_state);  // nothing changed on disk
}

TEST_CASE("raft: check-quorum: a leader that hears from no majority steps down") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  c.isolate("a");
  c.elapse(kElectionMs);
  CHECK(c["a"].role() == RaftRole::kLeader);  // the first check found b and c active
  c.elapse(kElectionMs + kHeartbeatMs);
  CHECK(c["a"].role() == RaftRole::kFollower);
  CHECK(c["a"].term() == 1);  // stepping down is no reason to bump the term
  c.elapse(3 * kElectionMs);
  auto leaders = c.leaders();
  REQUIRE(leaders.size() == 1);
  CHECK(leaders[0] != "a");
}

// The host learns of a lost leadership from a Ready: a step-down that
// leaves nothing to persist or send must still produce one, or the node
// goes on believing it leads until its election timer next fires.
TEST_CASE("raft: a leader stepped down by check-quorum has a Ready at once") {
  Cluster c({"a", "b", "c"});
  elect(c, "a");
  c.isolate("a");
  bool stepped_down = false;
  for (int tick = 0; tick < 100 && !stepped_down; ++tick) {
    c.now += kHeartbeatMs;
    c["a"].tick(c.now);
    stepped_down = c["a"].role() != RaftRole::kLeader;
    if (!stepped_down) {
      while (c["a"].has_ready()) c["a"].take_ready();
    }
  }
  REQUIRE(stepped_down);
  CHECK(c["a"].has_ready());
}

TEST_CASE("raft: a leader knows whether a majority answered it since an instant") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  c.heartbeat("a");
  uint64_t answered = c.now;
  CHECK(c["a"].heard_from_quorum_since(answered));
  CHECK_FALSE(c["b"].heard_from_quorum_since(0));  // followers never claim it
  c.isolate("a");
  c.heartbeat("a");
  CHECK(c["a"].role() == RaftRole::kLeader);
  CHECK(c["a"].heard_from_quorum_since(answered));
  CHECK_FALSE(c["a"].heard_from_quorum_since(answered + 1));  // nobody answered since
}

TEST_CASE("raft: leader stickiness: a replica that hears from a leader ignores higher-term vote requests") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  uint64_t sent_before = c.sent.size();
  c["b"].step(c.now, VoteRequest{kGroup, 7, "c", "b", 1, 1, false, false});
  c["b"].step(c.now, VoteRequest{kGroup, 7, "c", "b", 1, 1, true, false});
  c.flush();
  CHECK(c.sent.size() == sent_before);  // no answer at all
  CHECK(c["b"].term() == 1);
  CHECK(c["b"].leader_id() == "a");

  // Once an election timeout passes without the leader, b votes again.
  c.now += kElectionMs;
  c["b"].step(c.now, VoteRequest{kGroup, 7, "c", "b", 1, 1, false, false});
  c.flush();
  CHECK(c["b"].term() == 7);
  CHECK(c.replica("b").disk.hard.vote == "c");
}

TEST_CASE("raft: a leader ignores a disruptive vote request but yields to a transfer") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  c["a"].step(c.now, VoteRequest{kGroup, 9, "c", "a", 1, 1, false, false});
  CHECK(c["a"].role() == RaftRole::kLeader);
  c["a"].step(c.now, VoteRequest{kGroup, 9, "c", "a", 1, 1, false, /*transfer=*/true});
  CHECK(c["a"].role() == RaftRole::kFollower);
  CHECK(c["a"].term() == 9);
}

// ---------------------------------------------------------------------------------
// Replication

TEST_CASE("raft: a follower refuses proposals and names the leader") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  Result<uint64_t> r = c["b"].propose("x");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kNotLeader);
  CHECK(r.status().message() == "a");
}

TEST_CASE("raft: committed entries are applied in order, once, on every replica") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  for (int i = 0; i < 10; ++i) REQUIRE(c["a"].propose("e" + std::to_string(i)).ok());
  c.settle();
  c.heartbeat("a");  // followers learn the final commit index
  std::vector<std::string> expected;
  for (int i = 0; i < 10; ++i) expected.push_back("e" + std::to_string(i));
  for (const char* id : {"a", "b", "c"}) {
    CHECK(c.replica(id).applied_data() == expected);
    CHECK(c[id].applied_index() == 11);
  }
}

TEST_CASE("raft: a lagging follower is caught up") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  c.isolate("c");
  for (int i = 0; i < 30; ++i) REQUIRE(c["a"].propose("e" + std::to_string(i)).ok());
  c.settle();
  CHECK(c["a"].commit_index() == 31);  // a and b are a majority
  CHECK(c["c"].log().last_index() == 1);
  c.heal();
  c.heartbeat("a");
  c.heartbeat("a");
  CHECK(c["c"].log().last_index() == 31);
  CHECK(c.replica("c").applied_data() == c.replica("a").applied_data());
}

TEST_CASE("raft: a conflicting uncommitted suffix is truncated and the truncation is in the Ready") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  c.isolate("a");
  REQUIRE(c["a"].propose("lost1").ok());  // index 2 and 3, term 1, only on a
  REQUIRE(c["a"].propose("lost2").ok());
  c.settle();
  c.campaign("b");  // term 2 with c
  REQUIRE(c["b"].role() == RaftRole::kLeader);
  REQUIRE(c["b"].propose("kept").ok());
  c.settle();
  c.heal();
  c.heartbeat("b");
  c.heartbeat("b");
  CHECK(log_terms(c["a"]) == std::vector<uint64_t>{1, 2, 2});
  CHECK(c.replica("a").disk.entries.size() == 3);
  CHECK(c.replica("a").disk.entries[2].data == "kept");
  bool truncated = false;
  for (const auto& r : c.replica("a").readies) truncated |= r.truncate_from == std::optional<uint64_t>(2);
  CHECK(truncated);
  CHECK(c.replica("a").applied_data() == std::vector<std::string>{"kept"});
}

TEST_CASE("raft: the conflict hint skips a whole term per round trip") {
  // The leader holds 20 entries of term 3 after the common prefix, the
  // follower 30 of term 2: one rejection is enough to find index 1.
  auto disk_with = [](uint64_t term, size_t count) {
    RaftDisk d = RaftDisk::founding({"a", "b", "c"});
    d.hard_state.term = 3;
    d.entries.push_back(LogEntry{1, 1, EntryType::kNoop, {}, {}});
    for (size_t i = 0; i < count; ++i) d.entries.push_back(LogEntry{2 + i, term, EntryType::kNormal, "x", {}});
    return d;
  };
  FixedRandom ra(0), rb(0);
  RaftGroup a(test_config(), "a", ra, disk_with(3, 20), 0);
  RaftGroup b(test_config(), "b", rb, disk_with(2, 30), 0);
  a.tick(kElectionMs);  // pre-vote
  a.step(kElectionMs, VoteResponse{kGroup, 4, "c", "a", true, true});
  a.step(kElectionMs, VoteResponse{kGroup, 4, "c", "a", false, true});
  REQUIRE(a.role() == RaftRole::kLeader);
  int rejections = 0;
  std::deque<RaftMessage> queue;
  auto pump = [&](RaftGroup& g) {
    for (auto& m : g.take_ready().messages) queue.push_back(std::move(m));
  };
  pump(a);
  while (!queue.empty()) {
    RaftMessage m = std::move(queue.front());
    queue.pop_front();
    if (receiver_of(m) == "b") {
      b.step(kElectionMs, m);
      pump(b);
    } else if (receiver_of(m) == "a") {
      if (const auto* r = std::get_if<AppendResponse>(&m); r != nullptr && !r->success) ++rejections;
      a.step(kElectionMs, m);
      pump(a);
    }
  }
  CHECK(rejections == 1);
  CHECK(log_terms(b) == log_terms(a));
  CHECK(b.log().last_index() == 22);
}

TEST_CASE("raft: appends are pipelined up to max_inflight messages of max_entries_per_append entries") {
  Cluster c({"a", "b", "c"}, test_config(/*max_entries=*/2, /*max_inflight=*/3));
  c.campaign("a");
  c.heartbeat("a");
  c.drop = [](const RaftMessage& m) { return std::holds_alternative<AppendResponse>(m) && sender_of(m) == "b"; };
  c.sent.clear();
  for (int i = 0; i < 20; ++i) REQUIRE(c["a"].propose("e" + std::to_string(i)).ok());
  c.settle();
  auto to_b = c.sent_of<AppendRequest>([](const AppendRequest& r) { return r.to == "b" && !r.entries.empty(); });
  CHECK(to_b.size() == 3);
  for (const auto& r : to_b) CHECK(r.entries.size() == 2);
  c.drop = nullptr;
  c.heartbeat("a");
  c.heartbeat("a");
  CHECK(c["b"].log().last_index() == 21);
}

// Figure 8 of the Raft paper. x (term 1) reaches s1, s2; s5 wins term 2 with
// s3, s4 but keeps its entry; s1 wins term 3 and copies x to s3. x is now on a
// majority, but of an old term: counting replicas must not commit it, since
// s5 can still win (term 4) and overwrite it.
TEST_CASE("raft: Figure 8: an entry of an earlier term is not committed by counting replicas") {
  Cluster c({"s1", "s2", "s3", "s4", "s5"}, test_config(/*max_entries=*/1));
  c.campaign("s1");  // term 1, no-op at index 1 everywhere
  for (const char* id : {"s3", "s4", "s5"}) c.cut("s1", id);
  REQUIRE(c["s1"].propose("x").ok());  // index 2, term 1, reaches s2 only
  c.settle();
  c.crash("s1");

  c.heal();
  c.cut("s5", "s2");
  c.drop = [](const RaftMessage& m) { return std::holds_alternative<AppendRequest>(m) && sender_of(m) == "s5"; };
  c.campaign("s5");  // term 2, with s3 and s4; its no-op (index 2, term 2) stays on s5
  REQUIRE(c["s5"].role() == RaftRole::kLeader);
  REQUIRE(c["s5"].term() == 2);
  c.crash("s5");

  // s1's own no-op (term 3) reaches nobody; x reaches whoever lacks it.
  c.drop = [&c](const RaftMessage& m) {
    const auto* a = std::get_if<AppendRequest>(&m);
    return a != nullptr && a->from == "s1" && !a->entries.empty() && a->entries.back().term == 3 &&
           c[a->to].log().last_index() >= 2;
  };
  c.heal();
  c.restart("s1");
  elect(c, "s1");  // term 3, with s2, s3, s4; copies x to s3 and s4
  REQUIRE(c["s1"].term() == 3);
  CHECK(c["s3"].log().term_at(2) == 1);
  CHECK(c["s1"].commit_index() == 1);  // x is on a majority, yet not committed
  c.crash("s1");

  c.drop = nullptr;
  c.restart("s5");
  elect(c, "s5");  // term 4: its last term (2) beats x's (1)
  c.heartbeat("s5");
  for (const char* id : {"s2", "s3", "s4", "s5"}) {
    CHECK(c[id].log().term_at(2) == 2);  // x is gone, and nobody ever applied it
    CHECK(c.replica(id).applied_data().empty());
  }
}

TEST_CASE("raft: Figure 8, other ending: once an entry of its own term commits, the old entry commits with it") {
  Cluster c({"s1", "s2", "s3", "s4", "s5"});
  c.campaign("s1");
  for (const char* id : {"s3", "s4", "s5"}) c.cut("s1", id);
  REQUIRE(c["s1"].propose("x").ok());
  c.settle();
  CHECK(c["s1"].commit_index() == 1);
  c.crash("s1");
  c.restart("s1");
  c.heal();
  elect(c, "s1");  // term 2: its no-op commits, and x before it
  CHECK(c["s1"].commit_index() == 3);
  c.heartbeat("s1");
  for (const char* id : {"s1", "s2", "s3", "s4", "s5"})
    CHECK(c.replica(id).applied_data() == std::vector<std::string>{"x"});
}

// ---------------------------------------------------------------------------------
// Snapshots

TEST_CASE("raft: compaction keeps the snapshot point and refuses what is not applied") {
  Cluster c({"a"});
  c.campaign("a");
  for (int i = 0; i < 5; ++i) REQUIRE(c["a"].propose("e").ok());
  c.flush();
  Result<SnapshotMeta> meta = c["a"].compact(4, "state@4");
  REQUIRE(meta.ok());
  CHECK(meta.value().index == 4);
  CHECK(meta.value().term == 1);
  CHECK(meta.value().voters == std::vector<std::string>{"a"});
  CHECK(c["a"].log().first_index() == 5);
  CHECK(c["a"].compact(4, "again").status().code() == ErrorCode::kInvalidArgument);
  CHECK(c["a"].compact(7, "future").status().code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("raft: a replica with an empty disk is added and caught up by snapshot and log") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  for (int i = 0; i < 20; ++i) REQUIRE(c["a"].propose("e" + std::to_string(i)).ok());
  c.settle();
  c.heartbeat("a");
  for (const char* id : {"a", "b", "c"}) REQUIRE(c[id].compact(15, "state@15").ok());
  c.add_empty("d");
  c.elapse(5 * kElectionMs);
  CHECK(c["d"].role() == RaftRole::kFollower);  // knows no configuration: never campaigns
  CHECK(c["d"].term() == 0);

  Result<uint64_t> add = c["a"].propose_add("d");
  REQUIRE(add.ok());
  c.settle();
  c.heartbeat("a");
  c.heartbeat("a");
  const Replica& d = c.replica("d");
  REQUIRE(d.loaded);
  CHECK(d.loaded->meta.index == 15);
  CHECK(d.loaded->data == "state@15");
  CHECK(d.disk.snapshot.meta.index == 15);
  CHECK(c["d"].voters() == std::vector<std::string>{"a", "b", "c", "d"});
  CHECK(c["d"].log().last_index() == add.value());
  CHECK(c["d"].applied_index() == add.value());
  CHECK(c.replica("d").applied_data() == std::vector<std::string>{"e14", "e15", "e16", "e17", "e18", "e19"});
}

TEST_CASE("raft: a snapshot larger than a chunk streams chunk by chunk and resumes after lost chunks") {
  RaftConfig config = test_config();
  config.snapshot_chunk_bytes = 8;
  Cluster c({"a", "b", "c"}, config);
  c.campaign("a");
  for (int i = 0; i < 20; ++i) REQUIRE(c["a"].propose("e" + std::to_string(i)).ok());
  c.settle();
  c.heartbeat("a");
  std::string state;
  for (int i = 0; i < 30; ++i) state += "record-" + std::to_string(i) + ";";
  for (const char* id : {"a", "b", "c"}) REQUIRE(c[id].compact(15, state).ok());
  c.add_empty("d");
  // Lose the 3rd and the 7th chunk (the first time each is sent).
  int chunks = 0;
  c.drop = [&](const RaftMessage& m) {
    if (!std::holds_alternative<InstallSnapshot>(m)) return false;
    ++chunks;
    return chunks == 3 || chunks == 7;
  };
  REQUIRE(c["a"].propose_add("d").ok());
  c.settle();
  c.elapse(6 * kElectionMs);
  const Replica& d = c.replica("d");
  REQUIRE(d.loaded);
  CHECK(d.loaded->meta.index == 15);
  CHECK(d.loaded->data == state);
  CHECK(d.disk.snapshot.data == state);
  CHECK(c["d"].applied_index() == c["a"].log().last_index());
  auto sent = c.sent_of<InstallSnapshot>();
  for (const auto& chunk : sent) CHECK(chunk.data.size() <= 8);
  CHECK(sent.size() >= state.size() / 8 + 2);  // every chunk, and the two lost ones again
  CHECK(sent.back().done);
  CHECK(c.sent_of<SnapshotResponse>().size() >= state.size() / 8);
}

TEST_CASE("raft: a follower that lost the chunks it held asks for the snapshot from the start") {
  FixedRandom random(0);
  RaftGroup b(test_config(), "b", random, RaftDisk::founding({"a", "b"}), 0);
  b.step(0, InstallSnapshot{kGroup, 1, "a", "b", 4, 1, {"a", "b"}, "abc", 3, false});
  Ready ready = b.take_ready();
  REQUIRE(ready.messages.size() == 1);
  CHECK(std::get<SnapshotResponse>(ready.messages[0]).next_offset == 0);
  b.step(0, InstallSnapshot{kGroup, 1, "a", "b", 4, 1, {"a", "b"}, "abc", 0, false});
  b.step(0, InstallSnapshot{kGroup, 1, "a", "b", 4, 1, {"a", "b"}, "def", 3, false});
  b.step(0, InstallSnapshot{kGroup, 1, "a", "b", 4, 1, {"a", "b"}, "def", 3, false});  // a duplicate
  ready = b.take_ready();
  REQUIRE(ready.messages.size() == 3);
  CHECK(std::get<SnapshotResponse>(ready.messages[2]).next_offset == 6);
  CHECK_FALSE(ready.snapshot);
  b.step(0, InstallSnapshot{kGroup, 1, "a", "b", 4, 1, {"a", "b"}, "g", 6, true});
  ready = b.take_ready();
  REQUIRE(ready.snapshot);
  CHECK(ready.snapshot->data == "abcdefg");
  CHECK(std::get<AppendResponse>(ready.messages.at(0)).match_index == 4);
}

TEST_CASE("raft: an append carries at most max_append_bytes of entry data; a larger entry goes alone") {
  RaftConfig config = test_config();
  config.max_append_bytes = 250;
  Cluster c({"a", "b"}, config);
  c.campaign("a");
  for (int i = 0; i < 6; ++i) REQUIRE(c["a"].propose(std::string(100, 'x')).ok());
  REQUIRE(c["a"].propose(std::string(1000, 'y')).ok());
  c.settle();
  c.heartbeat("a");
  CHECK(c["b"].log().last_index() == c["a"].log().last_index());
  for (const auto& append : c.sent_of<AppendRequest>()) {
    size_t bytes = 0;
    for (const auto& e : append.entries) bytes += e.data.size();
    CHECK((bytes <= 250 || append.entries.size() == 1));
  }
}

TEST_CASE("raft: a learner catches up but counts toward no majority, never campaigns, and is then promoted") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  for (int i = 0; i < 10; ++i) REQUIRE(c["a"].propose("e" + std::to_string(i)).ok());
  c.settle();
  c.add_empty("d");
  REQUIRE(c["a"].propose_add_learner("d").ok());
  c.settle();
  c.heartbeat("a");
  CHECK(c["a"].voters() == std::vector<std::string>{"a", "b", "c"});
  CHECK(c["a"].learners() == std::vector<std::string>{"d"});
  CHECK(c["d"].learners() == std::vector<std::string>{"d"});
  CHECK(c["d"].log().last_index() == c["a"].log().last_index());  // it receives the log
  CHECK(c["a"].propose_add_learner("d").status().code() == ErrorCode::kInvalidArgument);

  // With b and c cut off, a and the learner are no majority: nothing commits,
  // and check-quorum deposes a although the learner keeps answering.
  c.cut("a", "b");
  c.cut("a", "c");
  uint64_t commit = c["a"].commit_index();
  REQUIRE(c["a"].propose("alone").ok());
  c.elapse(3 * kElectionMs);
  CHECK(c["a"].commit_index() == commit);
  CHECK(c["a"].role() != RaftRole::kLeader);
  // The learner never campaigns, however long it hears nothing.
  c.isolate("d");
  c.elapse(10 * kElectionMs);
  CHECK(c["d"].role() == RaftRole::kFollower);
  c.heal();
  elect(c, "b");
  c.heartbeat("b");                        // the learner answers: it may be promoted
  REQUIRE(c["b"].propose_add("d").ok());  // promotion
  c.settle();
  c.heartbeat("b");
  CHECK(c["b"].voters() == std::vector<std::string>{"a", "b", "c", "d"});
  CHECK(c["b"].learners().empty());
  CHECK(c["d"].voters() == std::vector<std::string>{"a", "b", "c", "d"});
  REQUIRE(c["b"].propose_remove("a").ok());
  c.settle();
  CHECK(c["b"].voters() == std::vector<std::string>{"b", "c", "d"});
}

TEST_CASE("raft: a learner removed before its promotion leaves the configuration") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  c.add_empty("d");
  REQUIRE(c["a"].propose_add_learner("d").ok());
  c.settle();
  REQUIRE(c["a"].propose_remove("d").ok());
  c.settle();
  c.heartbeat("a");
  CHECK(c["a"].learners().empty());
  CHECK(c["a"].voters() == std::vector<std::string>{"a", "b", "c"});
  CHECK(c["a"].status().followers.size() == 2);
}

TEST_CASE("raft: a snapshot whose last entry the follower holds keeps the log after it") {
  FixedRandom random(0);
  RaftDisk disk = RaftDisk::founding({"a", "b"});
  disk.hard_state.term = 1;
  for (uint64_t i = 1; i <= 5; ++i) disk.entries.push_back(LogEntry{i, 1, EntryType::kNormal, "e", {}});
  RaftGroup b(test_config(), "b", random, disk, 0);
  b.step(0, InstallSnapshot{kGroup, 1, "a", "b", 3, 1, {"a", "b"}, "state@3"});
  Ready ready = b.take_ready();
  CHECK_FALSE(ready.snapshot);
  CHECK(b.log().last_index() == 5);
  CHECK(b.commit_index() == 3);
  CHECK(ready.committed.size() == 3);
}

TEST_CASE("raft: a snapshot that conflicts with the follower's log replaces all of it") {
  FixedRandom random(0);
  RaftDisk disk = RaftDisk::founding({"a", "b"});
  disk.hard_state.term = 1;
  for (uint64_t i = 1; i <= 5; ++i) disk.entries.push_back(LogEntry{i, 1, EntryType::kNormal, "e", {}});
  RaftGroup b(test_config(), "b", random, disk, 0);
  b.step(0, InstallSnapshot{kGroup, 2, "a", "b", 4, 2, {"a", "b"}, "state@4"});
  Ready ready = b.take_ready();
  REQUIRE(ready.snapshot);
  CHECK(ready.snapshot->meta.index == 4);
  CHECK(ready.committed.empty());
  CHECK(b.log().last_index() == 4);
  CHECK(b.log().first_index() == 5);
  CHECK(b.applied_index() == 4);
  const auto& ack = std::get<AppendResponse>(ready.messages.at(0));
  CHECK(ack.success);
  CHECK(ack.match_index == 4);
}

// ---------------------------------------------------------------------------------
// Membership

TEST_CASE("raft: one configuration change at a time, in force as soon as it is appended") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  c.add_empty("d");
  c.add_empty("e");
  c.isolate("d");  // d cannot catch up, so adding it cannot commit with a, b (3 of 4 needed)
  c.isolate("c");
  REQUIRE(c["a"].propose_add("d").ok());
  CHECK(c["a"].voters() == std::vector<std::string>{"a", "b", "c", "d"});  // before commit
  c.settle();
  CHECK(c["b"].voters() == std::vector<std::string>{"a", "b", "c", "d"});  // b appended it
  CHECK(c["a"].commit_index() == 1);
  Result<uint64_t> second = c["a"].propose_add("e");
  CHECK(second.status().code() == ErrorCode::kBusy);
  CHECK(c["a"].propose_remove("b").status().code() == ErrorCode::kBusy);

  c.heal();
  c.heartbeat("a");
  c.heartbeat("a");
  CHECK(c["a"].commit_index() == 2);
  CHECK(c["a"].propose_add("e").ok());
  CHECK(c["a"].propose_add("a").status().code() == ErrorCode::kBusy);
}

TEST_CASE("raft: configuration changes are validated") {
  Cluster c({"a"});
  c.campaign("a");
  CHECK(c["a"].propose_add("a").status().code() == ErrorCode::kInvalidArgument);
  CHECK(c["a"].propose_remove("z").status().code() == ErrorCode::kInvalidArgument);
  CHECK(c["a"].propose_remove("a").status().code() == ErrorCode::kInvalidArgument);  // the last voter
}

TEST_CASE("raft: a new leader changes the configuration only after an entry of its term commits") {
  Cluster c({"a", "b", "c"});
  c.drop = [](const RaftMessage& m) { return std::holds_alternative<AppendResponse>(m); };
  c.campaign("a");
  REQUIRE(c["a"].role() == RaftRole::kLeader);
  Result<uint64_t> early = c["a"].propose_add("d");
  CHECK(early.status().code() == ErrorCode::kBusy);
  c.drop = nullptr;
  c.heartbeat("a");
  CHECK(c["a"].commit_index() == 1);
  CHECK(c["a"].propose_add("d").ok());
}

TEST_CASE("raft: a removed configuration entry that is truncated reverts the configuration") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  c.isolate("a");
  REQUIRE(c["a"].propose_remove("c").ok());
  CHECK(c["a"].voters() == std::vector<std::string>{"a", "b"});
  c.campaign("b");
  REQUIRE(c["b"].propose("x").ok());
  c.settle();
  c.heal();
  c.heartbeat("b");
  CHECK(c["a"].voters() == std::vector<std::string>{"a", "b", "c"});
  CHECK(c["a"].role() == RaftRole::kFollower);
}

TEST_CASE("raft: a leader that removes itself leads until the removal commits, then steps down for good") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  Result<uint64_t> removal = c["a"].propose_remove("a");
  REQUIRE(removal.ok());
  CHECK(c["a"].role() == RaftRole::kLeader);
  CHECK(c["a"].propose("still leading").ok());
  c.settle();
  CHECK(c["a"].commit_index() >= removal.value());
  CHECK(c["a"].role() == RaftRole::kFollower);
  c.elapse(10 * kElectionMs);
  auto leaders = c.leaders();
  REQUIRE(leaders.size() == 1);
  CHECK(leaders[0] != "a");
  CHECK(c["a"].role() == RaftRole::kFollower);
  CHECK(c.sent_of<VoteRequest>([](const VoteRequest& v) { return v.from == "a" && v.term > 1; }).empty());
  CHECK(c.replica(leaders[0]).applied_data() == std::vector<std::string>{"still leading"});
}

TEST_CASE("raft: a removed leader that loses its quorum before the removal commits may lead again to commit it") {
  Cluster c({"a", "b"});
  c.campaign("a");
  c.isolate("b");
  REQUIRE(c["a"].propose_remove("a").ok());  // {b}: only b's acknowledgement counts now
  c.elapse(3 * kElectionMs);
  CHECK(c["a"].role() != RaftRole::kLeader);  // check-quorum: b is silent
  CHECK(c["b"].voters() == std::vector<std::string>{"a", "b"});

  // b cannot win: its log lacks the removal, so a refuses it; a must campaign.
  c.heal();
  c.elapse(6 * kElectionMs);
  CHECK(c["b"].voters() == std::vector<std::string>{"b"});
  CHECK(c["b"].role() == RaftRole::kLeader);
  CHECK(c["a"].role() == RaftRole::kFollower);
}

TEST_CASE("raft: a wiped replica returns under a new id, messages to the old id are ignored") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  for (int i = 0; i < 5; ++i) REQUIRE(c["a"].propose("e" + std::to_string(i)).ok());
  c.settle();
  c.crash("c");
  c.add_empty("c#2");
  c["c#2"].step(c.now, AppendRequest{kGroup, 1, "a", "c", 0, 0, 6, {}});  // addressed to the old id
  CHECK_FALSE(c["c#2"].has_ready());
  REQUIRE(c["a"].propose_remove("c").ok());
  c.settle();
  REQUIRE(c["a"].propose_add("c#2").ok());
  c.settle();
  c.heartbeat("a");
  CHECK(c["c#2"].voters() == std::vector<std::string>{"a", "b", "c#2"});
  CHECK(c.replica("c#2").applied_data() == c.replica("a").applied_data());
}

// ---------------------------------------------------------------------------------
// Leadership transfer

TEST_CASE("raft: leadership transfer brings the target up to date, then it wins at once") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  c.isolate("c");
  for (int i = 0; i < 5; ++i) REQUIRE(c["a"].propose("e" + std::to_string(i)).ok());
  c.settle();
  c.heal();
  c.sent.clear();
  REQUIRE(c["a"].transfer_leadership(c.now, "c").ok());
  CHECK(c["a"].propose("refused").status().code() == ErrorCode::kBusy);
  c.settle();
  CHECK(c.leaders() == std::vector<std::string>{"c"});
  CHECK(c["c"].term() == 2);
  CHECK_FALSE(c.sent_of<TimeoutNow>().empty());
  CHECK(c.sent_of<VoteRequest>([](const VoteRequest& v) { return v.pre_vote; }).empty());
  auto votes = c.sent_of<VoteRequest>();
  REQUIRE_FALSE(votes.empty());
  CHECK(votes[0].transfer);
  c.heartbeat("c");
  CHECK(c.replica("c").applied_data().size() == 5);
}

TEST_CASE("raft: a leadership transfer to an unreachable replica is abandoned after an election timeout") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  c.isolate("c");  // it answered the election's first append, so a still counts it as responsive
  REQUIRE(c["a"].transfer_leadership(c.now, "c").ok());
  CHECK(c["a"].transfer_leadership(c.now, "b").code() == ErrorCode::kBusy);
  CHECK(c["a"].propose("x").status().code() == ErrorCode::kBusy);
  c.elapse(kElectionMs);
  CHECK(c["a"].role() == RaftRole::kLeader);
  CHECK(c["a"].propose("x").ok());
  CHECK(c["b"].transfer_leadership(c.now, "c").code() == ErrorCode::kNotLeader);
  CHECK(c["a"].transfer_leadership(c.now, "z").code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("raft: leadership and votes go only to a replica that answered within an election timeout") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  c.add_empty("d");
  REQUIRE(c["a"].propose_add_learner("d").ok());
  c.settle();
  c.heartbeat("a");
  // c and d die; b keeps a in the lead.
  c.crash("c");
  c.crash("d");
  c.elapse(kElectionMs);
  REQUIRE(c["a"].role() == RaftRole::kLeader);
  RaftStatus status = c["a"].status();
  for (const auto& f : status.followers) CHECK(f.responsive == (f.id == "b"));
  CHECK(c["a"].transfer_leadership(c.now, "c").code() == ErrorCode::kUnavailable);
  CHECK(c["a"].propose_add("d").status().code() == ErrorCode::kUnavailable);
  CHECK(c["a"].propose("writes go on").ok());  // no transfer blocks them
  CHECK(c["a"].transfer_leadership(c.now, "b").ok());
  c.settle();
  CHECK(c.leaders() == std::vector<std::string>{"b"});
}

// ---------------------------------------------------------------------------------
// Read index

TEST_CASE("raft: a read index is confirmed by a heartbeat round of a majority") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  REQUIRE(c["a"].propose("x").ok());
  c.settle();
  REQUIRE(c["a"].read_index(c.now, 7).ok());
  c.flush();
  CHECK(c.replica("a").reads.empty());  // not before the majority answered
  c.settle();
  REQUIRE(c.replica("a").reads.size() == 1);
  CHECK(c.replica("a").reads[0] == ReadState{7, 2});

  Status s = c["b"].read_index(c.now, 8);
  CHECK(s.code() == ErrorCode::kNotLeader);
  CHECK(s.message() == "a");
}

TEST_CASE("raft: a read waits for the new leader's first commit, and fails if leadership is lost") {
  Cluster c({"a", "b", "c"});
  c.drop = [](const RaftMessage& m) { return std::holds_alternative<AppendResponse>(m); };
  c.campaign("a");
  REQUIRE(c["a"].read_index(c.now, 1).ok());
  c.heartbeat("a");
  CHECK(c.replica("a").reads.empty());  // leadership confirmed, but the no-op has not committed
  c.drop = nullptr;
  c.heartbeat("a");
  REQUIRE(c.replica("a").reads.size() == 1);
  CHECK(c.replica("a").reads[0].index == 1);

  c.isolate("a");
  REQUIRE(c["a"].read_index(c.now, 2).ok());
  c.elapse(3 * kElectionMs);
  CHECK(c.replica("a").failed_reads == std::vector<uint64_t>{2});
}

TEST_CASE("raft: a lone voter confirms reads at once") {
  Cluster c({"a"});
  c.campaign("a");
  REQUIRE(c["a"].read_index(c.now, 3).ok());
  c.flush();
  CHECK(c.replica("a").reads == std::vector<ReadState>{{3, 1}});
}

// ---------------------------------------------------------------------------------
// Restart, introspection, routing

TEST_CASE("raft: a restart restores the persisted state exactly and re-applies from the snapshot") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  for (int i = 0; i < 6; ++i) REQUIRE(c["a"].propose("e" + std::to_string(i)).ok());
  c.settle();
  c.heartbeat("a");
  REQUIRE(c["b"].compact(4, "state@4").ok());
  const Replica& b = c.replica("b");
  c.replica("b").disk.snapshot = Snapshot{c["b"].log().snapshot(), "state@4"};
  std::erase_if(c.replica("b").disk.entries, [](const LogEntry& e) { return e.index <= 4; });
  uint64_t term = c["b"].term(), commit = c["b"].commit_index(), last = c["b"].log().last_index();
  std::vector<uint64_t> terms = log_terms(c["b"]);

  c.crash("b");
  c.restart("b");
  CHECK(c["b"].term() == term);
  CHECK(c["b"].commit_index() == commit);
  CHECK(c["b"].log().last_index() == last);
  CHECK(c["b"].log().first_index() == 5);
  CHECK(log_terms(c["b"]) == terms);
  CHECK(c["b"].role() == RaftRole::kFollower);
  CHECK(c["b"].leader_id().empty());
  CHECK(c.replica("b").disk.hard.vote == "a");
  c.flush();
  CHECK(b.applied_data() == std::vector<std::string>{"e3", "e4", "e5"});  // entries 5..7
}

TEST_CASE("raft: status shows the leader's view of its followers") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  c.isolate("c");
  REQUIRE(c["a"].propose("x").ok());
  c.settle();
  RaftStatus s = c["a"].status();
  CHECK(s.group == kGroup);
  CHECK(s.role == RaftRole::kLeader);
  CHECK(role_name(s.role) == "leader");
  CHECK(s.leader == "a");
  CHECK(s.commit_index == 2);
  CHECK(s.last_index == 2);
  CHECK(s.voters == std::vector<std::string>{"a", "b", "c"});
  REQUIRE(s.followers.size() == 2);
  CHECK(s.followers[0].id == "b");
  CHECK(s.followers[0].match_index == 2);
  CHECK(s.followers[0].state == ReplicationState::kReplicate);
  CHECK(s.followers[1].id == "c");
  CHECK(s.followers[1].match_index == 1);
  CHECK(c["b"].status().followers.empty());
}

TEST_CASE("raft: messages of another group or for another replica are ignored") {
  FixedRandom random(0);
  RaftGroup b(test_config(), "b", random, RaftDisk::founding({"a", "b", "c"}), 0);
  b.step(0, VoteRequest{kGroup + 1, 1, "a", "b", 0, 0, false, false});
  b.step(0, VoteRequest{kGroup, 1, "a", "c", 0, 0, false, false});
  CHECK_FALSE(b.has_ready());
  CHECK(b.term() == 0);
}

TEST_CASE("raft: a tick before any deadline leaves the group quiet; the heartbeat tick is not lost") {
  Cluster c({"a", "b", "c"});
  c.campaign("a");
  REQUIRE(c.leaders() == std::vector<std::string>{"a"});
  RaftGroup& a = c["a"];
  REQUIRE_FALSE(a.has_ready());
  size_t sent_before = c.sent.size();
  // Hosts tick every group on every step; ticks short of the heartbeat do nothing.
  for (uint64_t ms = 1; ms < kHeartbeatMs; ++ms) {
    a.tick(c.now + ms);
    CHECK_FALSE(a.has_ready());
  }
  a.tick(c.now + kHeartbeatMs);
  REQUIRE(a.has_ready());
  c.settle();
  size_t heartbeats = std::count_if(c.sent.begin() + sent_before, c.sent.end(),
                                    [](const RaftMessage& m) { return std::holds_alternative<Heartbeat>(m); });
  CHECK(heartbeats == 2);  // one to each follower
  // A quiet group that is handed work has a Ready again.
  REQUIRE_FALSE(a.has_ready());
  REQUIRE(a.propose("x").ok());
  CHECK(a.has_ready());
}

TEST_CASE("raft: error codes keep their numbers and names") {
  CHECK(static_cast<int>(ErrorCode::kNotLeader) == 15);
  CHECK(static_cast<int>(ErrorCode::kBusy) == 16);
  CHECK(error_name(ErrorCode::kNotLeader) == "not_leader");
  CHECK(error_name(ErrorCode::kBusy) == "busy");
}

}  // namespace
}  // namespace mesh
