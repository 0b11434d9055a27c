// Membership: unit tests of the merge rules, relays and Lifeguard timeouts,
// and small meshes run in a deterministic in-test harness (virtual clock,
// fixed 5 ms delivery, crashes, isolation, one-way link cuts, random loss).
#include "node/core/membership.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "tests/core/test_random.h"

namespace mesh {
namespace {

using testing::SplitMix64;

// --- unit-level helpers ------------------------------------------------------------

MemberUpdate fact(const std::string& id, uint64_t incarnation, MemberState state, uint64_t load_version = 0,
                  const std::string& replica_id = "") {
  LoadDigest load;
  load.version = load_version;
  return MemberUpdate{id, "addr-" + id, incarnation, state, load, replica_id};
}

Sync sync_from(const std::string& from, std::vector<MemberUpdate> members) {
  return Sync{from, "addr-" + from, false, std::move(members)};
}

Ping ping_from(const std::string& from, const std::string& target, uint64_t seq, std::vector<MemberUpdate> updates) {
  return Ping{seq, from, "addr-" + from, target, std::move(updates)};
}

std::optional<MemberView> view_of(const Membership& m, const std::string& id) {
  for (const auto& v : m.members()) {
    if (v.id == id) return v;
  }
  return std::nullopt;
}

// --- the harness -------------------------------------------------------------------

constexpr uint64_t kDelayMs = 5;

std::string id_of(size_t i) { return "n" + std::to_string(i); }
std::string address_of(size_t i) { return "mem://n" + std::to_string(i); }

const std::vector<MemberUpdate>& piggybacked(const PeerMessage& message) {
  static const std::vector<MemberUpdate> kNone;
  if (const auto* p = std::get_if<Ping>(&message)) return p->updates;
  if (const auto* r = std::get_if<PingReq>(&message)) return r->updates;
  if (const auto* a = std::get_if<Ack>(&message)) return a->updates;
  return kNone;
}

// Every field of a message, as text: what the determinism hash covers.
std::string describe(const PeerMessage& message) {
  auto updates = [](const std::vector<MemberUpdate>& us) {
    std::string s;
    for (const auto& u : us) {
      s += " [" + u.id + " " + u.address + " " + std::to_string(u.incarnation) + " " + member_state_name(u.state) +
           " " + std::to_string(u.load.pending) + "/" + std::to_string(u.load.free_slots) + "/" +
           std::to_string(u.load.backlog_ms) + "/" + std::to_string(u.load.version) + " " + u.replica_id + "]";
    }
    return s;
  };
  return std::visit(
      [&](const auto& m) -> std::string {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Ping>) {
          return "ping " + std::to_string(m.seq) + " " + m.from_id + " " + m.from_address + " " + m.target_id +
                 updates(m.updates);
        } else if constexpr (std::is_same_v<T, PingReq>) {
          return "pingreq " + std::to_string(m.seq) + " " + m.from_id + " " + m.from_address + " " + m.target_id + " " +
                 m.target_address + updates(m.updates);
        } else if constexpr (std::is_same_v<T, Ack>) {
          return std::string(m.nack ? "nack " : "ack ") + std::to_string(m.seq) + " " + m.from_id + " " +
                 m.from_address + updates(m.updates);
        } else if constexpr (std::is_same_v<T, Sync>) {
          return std::string(m.reply ? "sync-reply " : "sync ") + m.from_id + " " + m.from_address + updates(m.members);
        } else {
          return "not membership";  // membership never sends work-stealing messages
        }
      },
      message);
}

// N Membership instances on a virtual clock. Messages arrive kDelayMs after
// they are sent, in send order; time jumps to the next delivery or wake-up.
class Mesh {
 public:
  using SendObserver = std::function<void(size_t from, const std::string& to, const PeerMessage&)>;

  Mesh(size_t n, uint64_t seed, MembershipConfig config = MembershipConfig::local(), double loss = 0.0)
      : config_(config), seed_(seed), loss_(loss), loss_random_(seed ^ 0x5eedull) {
    for (size_t i = 0; i < n; ++i) {
      nodes_.push_back(Node{});
      nodes_[i].address = address_of(i);
      by_address_[address_of(i)] = i;
      boot(i);
    }
  }

  size_t size() const { return nodes_.size(); }
  uint64_t now() const { return now_; }
  Membership& node(size_t i) { return *nodes_[i].membership; }
  bool running(size_t i) const { return !nodes_[i].crashed; }
  uint64_t trace_hash() const { return hash_; }
  void observe(SendObserver observer) { observer_ = std::move(observer); }

  void join(size_t i, const std::vector<size_t>& seeds) {
    std::vector<std::string> addresses;
    for (size_t s : seeds) addresses.push_back(nodes_[s].address);
    node(i).join(now_, addresses);
    flush(i);
  }
  // Node 0 starts the mesh; node i joins through it at i * stagger_ms.
  void join_all_through_first(uint64_t stagger_ms) {
    join(0, {});
    for (size_t i = 1; i < size(); ++i) {
      run_for(stagger_ms);
      join(i, {0});
    }
  }
  void leave(size_t i) {
    node(i).leave(now_);
    flush(i);
  }
  void set_load(size_t i, const LoadDigest& load) {
    node(i).set_local_load(load);
    flush(i);
  }
  // Stops the node: no ticks, every message to or from it is lost.
  void crash(size_t i) { nodes_[i].crashed = true; }
  // A fresh instance with the same id and address (incarnation 0) joins
  // through `seed`; with a replica id, under that one (a wiped disk).
  void restart(size_t i, size_t seed, std::string replica_id = {}) {
    if (!replica_id.empty()) nodes_[i].replica_id = std::move(replica_id);
    boot(i);
    join(i, {seed});
  }
  // The same, at a new address (a container restarted on a new port): the
  // old one reaches nobody any more.
  void restart_at(size_t i, size_t seed, const std::string& address) {
    by_address_.erase(nodes_[i].address);
    nodes_[i].address = address;
    by_address_[address] = i;
    restart(i, seed);
  }
  const std::string& address(size_t i) const { return nodes_[i].address; }
  // The node keeps running but nothing reaches it or leaves it.
  void set_isolated(size_t i, bool isolated) { nodes_[i].isolated = isolated; }
  // Drops every message from `from` to `to` (one direction only).
  void cut_link(size_t from, size_t to) { cut_.insert({from, to}); }

  std::optional<MemberView> view(size_t viewer, size_t member) { return view_of(node(viewer), id_of(member)); }
  std::optional<MemberState> belief(size_t viewer, size_t member) {
    auto v = view(viewer, member);
    return v ? std::optional<MemberState>(v->state) : std::nullopt;
  }

  // Every running node sees exactly the running nodes as ALIVE.
  bool converged() {
    std::vector<std::string> expected;
    for (size_t i = 0; i < size(); ++i) {
      if (running(i)) expected.push_back(id_of(i));
    }
    std::sort(expected.begin(), expected.end());
    for (size_t i = 0; i < size(); ++i) {
      if (!running(i)) continue;
      std::vector<std::string> alive;
      for (const auto& m : node(i).members()) {
        if (m.state == MemberState::kAlive) alive.push_back(m.id);
      }
      if (alive != expected) return false;
    }
    return true;
  }

  // Runs until `done` holds (checked after every step) or deadline_ms passes.
  std::optional<uint64_t> run_until(const std::function<bool()>& done, uint64_t deadline_ms) {
    while (true) {
      if (done()) return now_;
      if (!step(deadline_ms)) return done() ? std::optional<uint64_t>(now_) : std::nullopt;
    }
  }
  void run_for(uint64_t ms) {
    run_until([] { return false; }, now_ + ms);
  }

 private:
  struct Node {
    std::unique_ptr<SplitMix64> random;
    std::unique_ptr<Membership> membership;
    bool crashed = false;
    bool isolated = false;
    uint64_t boots = 0;
    std::string replica_id;  // empty: the node id
    std::string address;
  };
  struct InFlight {
    size_t from;
    size_t to;
    PeerMessage message;
  };

  void boot(size_t i) {
    Node& n = nodes_[i];
    n.random = std::make_unique<SplitMix64>(seed_ * 1000 + i * 10 + n.boots++);
    n.membership = std::make_unique<Membership>(config_, id_of(i), n.address, *n.random, n.replica_id);
    n.crashed = false;
  }

  bool reachable(size_t i) const { return !nodes_[i].crashed && !nodes_[i].isolated; }

  // Takes what node i produced, records it, and puts what survives in flight.
  void flush(size_t from) {
    for (auto& out : node(from).take_outbox()) {
      std::string line =
          std::to_string(now_) + " " + id_of(from) + " -> " + out.to_address + " " + describe(out.message);
      for (unsigned char c : line) hash_ = (hash_ ^ c) * 0x100000001b3ull;  // FNV-1a
      if (observer_) observer_(from, out.to_address, out.message);
      auto to = by_address_.find(out.to_address);
      if (to == by_address_.end()) continue;
      size_t to_index = to->second;
      if (!reachable(from) || cut_.count({from, to_index})) continue;
      if (loss_ > 0 && static_cast<double>(loss_random_.next_u64() % 1000000) < loss_ * 1000000) continue;
      in_flight_.emplace(std::make_pair(now_ + kDelayMs, ++sent_), InFlight{from, to_index, std::move(out.message)});
    }
  }

  // Advances to the next event no later than deadline_ms and handles it.
  bool step(uint64_t deadline_ms) {
    std::optional<uint64_t> next;
    auto earliest = [&](uint64_t t) { next = next ? std::min(*next, t) : t; };
    if (!in_flight_.empty()) earliest(in_flight_.begin()->first.first);
    for (size_t i = 0; i < size(); ++i) {
      if (auto wake = running(i) ? node(i).next_wake_ms() : std::nullopt) earliest(*wake);
    }
    if (!next || *next > deadline_ms) {
      now_ = deadline_ms;
      return false;
    }
    REQUIRE_MESSAGE(*next >= now_, "a wake-up in the past was not handled: " << *next << " < " << now_);
    now_ = *next;
    while (!in_flight_.empty() && in_flight_.begin()->first.first <= now_) {
      InFlight f = std::move(in_flight_.begin()->second);
      in_flight_.erase(in_flight_.begin());
      if (!reachable(f.to) || nodes_[f.from].isolated) continue;
      node(f.to).receive(now_, f.message);
      flush(f.to);
    }
    for (size_t i = 0; i < size(); ++i) {
      auto wake = running(i) ? node(i).next_wake_ms() : std::nullopt;
      if (!wake || *wake > now_) continue;
      node(i).tick(now_);
      flush(i);
    }
    return true;
  }

  MembershipConfig config_;
  uint64_t seed_;
  double loss_;
  SplitMix64 loss_random_;
  std::vector<Node> nodes_;
  std::map<std::string, size_t> by_address_;
  std::map<std::pair<uint64_t, uint64_t>, InFlight> in_flight_;  // by (arrival, send order)
  std::set<std::pair<size_t, size_t>> cut_;
  uint64_t now_ = 0;
  uint64_t sent_ = 0;
  uint64_t hash_ = 0xcbf29ce484222325ull;
  SendObserver observer_;
};

// Deadlines are whole milliseconds; the formula is not.
void check_deadline(std::optional<uint64_t> actual_ms, double expected_ms) {
  REQUIRE(actual_ms.has_value());
  CHECK_MESSAGE(std::abs(static_cast<double>(*actual_ms) - expected_ms) <= 1.0, *actual_ms << " vs " << expected_ms);
}

double suspicion_min_ms(const MembershipConfig& c, size_t live) {
  return c.suspicion_mult * std::log10(static_cast<double>(std::max<size_t>(live, 1)) + 1) *
         static_cast<double>(c.probe_interval_ms);
}

// Crash to DEAD everywhere, at worst: some node probes the crashed one within
// two rounds of its probe order (2N periods) and needs one period to give up;
// the suspicion lasts at most the longest timeout; DEAD then reaches every
// node within a few gossip rounds (2 log2 N + 2 periods).
uint64_t detection_bound_ms(const MembershipConfig& c, size_t n) {
  double periods = 2.0 * static_cast<double>(n) + 1 + 2 * std::ceil(std::log2(static_cast<double>(n))) + 2;
  double max_suspicion_ms = c.suspicion_max_mult * suspicion_min_ms(c, n);
  return static_cast<uint64_t>(periods * static_cast<double>(c.probe_interval_ms) + max_suspicion_ms);
}

Mesh converged_mesh(size_t n, uint64_t seed) {
  Mesh mesh(n, seed);
  mesh.join_all_through_first(10);
  REQUIRE(mesh.run_until([&] { return mesh.converged(); }, mesh.now() + 30000));
  return mesh;
}

// --- precedence --------------------------------------------------------------------

TEST_CASE("membership: precedence of facts about a member") {
  using S = MemberState;
  struct Row {
    MemberUpdate before;
    MemberUpdate heard;
    uint64_t incarnation;
    MemberState state;
    uint64_t load_version;
  };
  const std::vector<Row> rows = {
      {fact("b", 1, S::kAlive), fact("b", 2, S::kAlive), 2, S::kAlive, 0},        // higher incarnation wins
      {fact("b", 2, S::kAlive), fact("b", 1, S::kAlive), 2, S::kAlive, 0},        // lower is old news
      {fact("b", 1, S::kAlive), fact("b", 1, S::kSuspect), 1, S::kSuspect, 0},    // suspect > alive
      {fact("b", 1, S::kSuspect), fact("b", 1, S::kAlive), 1, S::kSuspect, 0},    // alive needs a higher one
      {fact("b", 1, S::kSuspect), fact("b", 2, S::kAlive), 2, S::kAlive, 0},      // refuted
      {fact("b", 1, S::kAlive), fact("b", 0, S::kSuspect), 1, S::kAlive, 0},      // stale suspicion
      {fact("b", 1, S::kAlive), fact("b", 2, S::kSuspect), 2, S::kSuspect, 0},    // newer suspicion
      {fact("b", 1, S::kSuspect), fact("b", 1, S::kDead), 1, S::kDead, 0},        // dead > suspect
      {fact("b", 1, S::kAlive), fact("b", 1, S::kLeft), 1, S::kLeft, 0},          // left > alive
      {fact("b", 1, S::kDead), fact("b", 1, S::kAlive), 1, S::kDead, 0},          // no resurrection
      {fact("b", 1, S::kDead), fact("b", 0, S::kAlive), 1, S::kDead, 0},          // late alive
      {fact("b", 1, S::kDead), fact("b", 2, S::kSuspect), 1, S::kDead, 0},        // suspicion cannot revive
      {fact("b", 1, S::kDead), fact("b", 2, S::kAlive), 2, S::kAlive, 0},         // rejoined
      {fact("b", 1, S::kDead), fact("b", 2, S::kDead), 2, S::kDead, 0},           // still dead, newer life
      {fact("b", 1, S::kDead), fact("b", 1, S::kLeft), 1, S::kDead, 0},           // equal rank: first stays
      {fact("b", 1, S::kLeft), fact("b", 1, S::kAlive), 1, S::kLeft, 0},          // no resurrection
      {fact("b", 1, S::kLeft), fact("b", 2, S::kAlive), 2, S::kAlive, 0},         // rejoined
      {fact("b", 1, S::kAlive, 3), fact("b", 1, S::kAlive, 5), 1, S::kAlive, 5},  // newer load
      {fact("b", 1, S::kAlive, 5), fact("b", 1, S::kAlive, 3), 1, S::kAlive, 5},  // older load
      {fact("b", 1, S::kAlive, 5), fact("b", 2, S::kAlive, 1), 2, S::kAlive, 1},  // new life, new versions
      {fact("b", 1, S::kAlive, 5), fact("b", 0, S::kAlive, 9), 1, S::kAlive, 5},  // old life's load ignored
      {fact("b", 1, S::kSuspect, 2), fact("b", 1, S::kSuspect, 4), 1, S::kSuspect, 4},
  };
  for (const auto& row : rows) {
    CAPTURE(describe(Sync{"s", "", false, {row.before, row.heard}}));
    SplitMix64 random(1);
    Membership a(MembershipConfig::local(), "a", "addr-a", random);
    // Known first: the death of a member it never knew only leaves a tombstone.
    a.receive(50, sync_from("s", {fact("b", 0, MemberState::kAlive)}));
    a.receive(100, sync_from("s", {row.before}));
    a.receive(200, sync_from("s", {row.heard}));
    auto b = view_of(a, "b");
    REQUIRE(b.has_value());
    CHECK(b->incarnation == row.incarnation);
    CHECK(b->state == row.state);
    CHECK(b->load.version == row.load_version);
  }
}

TEST_CASE("membership: a node refutes facts about itself that are not its own") {
  SplitMix64 random(1);
  Membership a(MembershipConfig::local(), "a", "addr-a", random);
  auto self = [&] { return *view_of(a, "a"); };

  SUBCASE("suspected at its incarnation") {
    a.receive(10, sync_from("s", {fact("a", 0, MemberState::kSuspect)}));
    CHECK(a.incarnation() == 1);
    CHECK(self().state == MemberState::kAlive);
    // The reply already carries the refutation.
    auto out = a.take_outbox();
    REQUIRE(out.size() == 1);
    const auto& reply = std::get<Sync>(out[0].message);
    CHECK(reply.reply);
    CHECK(out[0].to_address == "addr-s");
    auto me = std::find_if(reply.members.begin(), reply.members.end(), [](const auto& u) { return u.id == "a"; });
    REQUIRE(me != reply.members.end());
    CHECK(me->incarnation == 1);
    CHECK(me->state == MemberState::kAlive);
  }
  SUBCASE("declared dead at a higher incarnation") {
    a.receive(10, sync_from("s", {fact("a", 4, MemberState::kDead)}));
    CHECK(a.incarnation() == 5);
    CHECK(self().state == MemberState::kAlive);
  }
  SUBCASE("old accusations and its own facts change nothing") {
    a.receive(10, sync_from("s", {fact("a", 4, MemberState::kDead)}));
    a.receive(20, sync_from("s", {fact("a", 3, MemberState::kSuspect), fact("a", 5, MemberState::kAlive)}));
    CHECK(a.incarnation() == 5);
  }
  SUBCASE("an accusation it already refuted makes it gossip its ALIVE again") {
    a.receive(10, sync_from("s", {fact("a", 0, MemberState::kSuspect)}));
    REQUIRE(a.incarnation() == 1);
    auto carries_refutation = [&](uint64_t seq) {
      a.take_outbox();
      a.receive(20 + seq, ping_from("s", "a", seq, {}));
      auto out = a.take_outbox();
      const auto& updates = std::get<Ack>(out.at(0).message).updates;
      return std::any_of(updates.begin(), updates.end(), [](const MemberUpdate& u) {
        return u.id == "a" && u.incarnation == 1 && u.state == MemberState::kAlive;
      });
    };
    uint64_t seq = 0;
    while (carries_refutation(++seq)) REQUIRE(seq < 100);  // until its sends are used up
    a.receive(200, sync_from("s", {fact("a", 0, MemberState::kSuspect)}));
    CHECK(a.incarnation() == 1);
    CHECK(carries_refutation(++seq));
  }
  SUBCASE("ALIVE from a previous life: higher incarnation or newer load") {
    a.receive(10, sync_from("s", {fact("a", 2, MemberState::kAlive)}));
    CHECK(a.incarnation() == 3);
    a.receive(20, sync_from("s", {fact("a", 3, MemberState::kAlive, 7)}));
    CHECK(a.incarnation() == 4);
  }
  SUBCASE("after leaving it stays LEFT") {
    a.leave(10);
    CHECK(a.incarnation() == 1);
    CHECK(self().state == MemberState::kLeft);
    a.receive(20, sync_from("s", {fact("a", 1, MemberState::kDead)}));
    CHECK(a.incarnation() == 1);
    CHECK(self().state == MemberState::kLeft);
    CHECK(a.live_ids() == std::vector<std::string>{"s"});
  }
}

TEST_CASE("membership: replica ids travel with the incarnation") {
  SplitMix64 random(1);
  Membership a(MembershipConfig::local(), "a", "addr-a", random, "a#1");
  CHECK(a.self_replica_id() == "a#1");
  CHECK(view_of(a, "a")->replica_id == "a#1");
  SplitMix64 random2(2);
  CHECK(Membership(MembershipConfig::local(), "z", "addr-z", random2).self_replica_id() == "z");  // default: the id
  using S = MemberState;

  SUBCASE("learnt from facts; a sender's is filled in by a fact of the same incarnation") {
    a.receive(10, sync_from("s", {fact("b", 2, S::kAlive, 0, "b#1"), fact("s", 0, S::kAlive, 0, "s#4")}));
    CHECK(view_of(a, "b")->replica_id == "b#1");
    CHECK(view_of(a, "s")->replica_id == "s#4");  // added as the sender first, with none
    // A sender nobody has told it about yet has none.
    a.receive(20, ping_from("x", "a", 1, {}));
    CHECK(view_of(a, "x")->replica_id.empty());
    uint64_t version = a.view_version();
    a.receive(30, ping_from("x", "a", 2, {fact("x", 0, S::kAlive, 0, "x#1")}));
    CHECK(view_of(a, "x")->replica_id == "x#1");
    CHECK(a.view_version() > version);
  }
  SUBCASE("replaced by an accepted fact only, and never by an empty one") {
    a.receive(10, sync_from("s", {fact("b", 2, S::kAlive, 0, "b#1")}));
    a.receive(20, sync_from("s", {fact("b", 2, S::kAlive, 0, "b#2")}));  // same life: old news
    CHECK(view_of(a, "b")->replica_id == "b#1");
    a.receive(30, sync_from("s", {fact("b", 1, S::kAlive, 0, "b#0")}));  // older life
    CHECK(view_of(a, "b")->replica_id == "b#1");
    a.receive(40, sync_from("s", {fact("b", 3, S::kAlive, 0, "b#2")}));  // newer life, new disk
    CHECK(view_of(a, "b")->replica_id == "b#2");
    a.receive(50, sync_from("s", {fact("b", 3, S::kSuspect)}));  // from a node that does not know it
    CHECK(view_of(a, "b")->state == S::kSuspect);
    CHECK(view_of(a, "b")->replica_id == "b#2");
  }
  SUBCASE("its own under another replica id is a previous life: it refutes") {
    a.receive(10, sync_from("s", {fact("a", 0, S::kAlive, 0, "a#1"), fact("a", 0, S::kAlive)}));
    CHECK(a.incarnation() == 0);  // its own, or one that does not say
    a.receive(20, sync_from("s", {fact("a", 0, S::kAlive, 0, "a#0")}));
    CHECK(a.incarnation() == 1);
    CHECK(a.self_replica_id() == "a#1");
    a.receive(30, sync_from("s", {fact("a", 0, S::kAlive, 0, "a#0")}));  // older: nothing
    CHECK(a.incarnation() == 1);
  }
  SUBCASE("every fact it sends carries the replica id") {
    a.receive(10, sync_from("s", {fact("b", 0, S::kAlive, 0, "b#1"), fact("s", 0, S::kAlive, 0, "s#4")}));
    auto out = a.take_outbox();
    REQUIRE(out.size() == 1);
    std::map<std::string, std::string> sent;
    for (const auto& u : std::get<Sync>(out[0].message).members) sent[u.id] = u.replica_id;
    CHECK(sent == std::map<std::string, std::string>{{"a", "a#1"}, {"b", "b#1"}, {"s", "s#4"}});
    a.set_local_load(LoadDigest{1, 1, 1, 0});
    a.receive(20, ping_from("s", "a", 1, {}));
    out = a.take_outbox();
    REQUIRE(out.size() == 1);
    size_t seen = 0;
    for (const auto& u : std::get<Ack>(out[0].message).updates) {
      CAPTURE(u.id);
      CHECK(u.replica_id == sent[u.id]);
      ++seen;
    }
    CHECK(seen == 3);
    // And the view lists it for every member.
    std::vector<std::string> listed;
    for (const auto& m : a.members_where([](MemberState, const LoadDigest&) { return true; })) {
      listed.push_back(m.replica_id);
    }
    CHECK(listed == std::vector<std::string>{"a#1", "b#1", "s#4"});
  }
}

TEST_CASE("membership: pings, unknown senders and live_version") {
  SplitMix64 random(1);
  Membership a(MembershipConfig::local(), "a", "addr-a", random);
  uint64_t v0 = a.live_version();

  SUBCASE("a Ping for another node is ignored") {
    a.receive(10, ping_from("x", "someone-else", 4, {fact("y", 0, MemberState::kAlive)}));
    CHECK(a.take_outbox().empty());
    CHECK(a.members().size() == 1);
  }
  SUBCASE("a Ping from an unknown node adds it ALIVE and is acked with its seq") {
    a.receive(10, ping_from("x", "a", 4, {}));
    auto x = view_of(a, "x");
    REQUIRE(x.has_value());
    CHECK(x->state == MemberState::kAlive);
    CHECK(x->incarnation == 0);
    CHECK(x->address == "addr-x");
    auto out = a.take_outbox();
    REQUIRE(out.size() == 1);
    CHECK(out[0].to_address == "addr-x");
    const auto& ack = std::get<Ack>(out[0].message);
    CHECK(ack.seq == 4);
    CHECK_FALSE(ack.nack);
    CHECK(a.live_version() > v0);
  }
  SUBCASE("a Ping from a dead member does not revive it") {
    a.receive(5, sync_from("s", {fact("x", 3, MemberState::kAlive)}));
    a.receive(10, sync_from("s", {fact("x", 3, MemberState::kDead)}));
    a.receive(20, ping_from("x", "a", 1, {}));
    CHECK(view_of(a, "x")->state == MemberState::kDead);
    a.receive(30, ping_from("x", "a", 2, {fact("x", 4, MemberState::kAlive)}));
    CHECK(view_of(a, "x")->state == MemberState::kAlive);
    CHECK(view_of(a, "x")->state_since_ms == 30);
  }
  SUBCASE("live_version follows the live set only") {
    a.receive(10, sync_from("s", {fact("b", 0, MemberState::kAlive)}));
    uint64_t v1 = a.live_version();
    CHECK(v1 > v0);
    CHECK(a.live_ids() == std::vector<std::string>{"a", "b", "s"});
    a.receive(20, sync_from("s", {fact("b", 0, MemberState::kSuspect)}));
    CHECK(a.live_version() == v1);  // suspects still count as live
    CHECK(a.live_ids() == std::vector<std::string>{"a", "b", "s"});
    a.receive(30, sync_from("s", {fact("b", 0, MemberState::kDead)}));
    CHECK(a.live_version() > v1);
    CHECK(a.live_ids() == std::vector<std::string>{"a", "s"});
  }
}

TEST_CASE("membership: the death of a member never known leaves a tombstone, not a member") {
  SplitMix64 random(1);
  MembershipConfig config = MembershipConfig::local();
  Membership a(config, "a", "addr-a", random);
  a.receive(10, sync_from("s", {fact("x", 3, MemberState::kDead), fact("y", 1, MemberState::kLeft)}));
  CHECK_FALSE(view_of(a, "x"));
  CHECK_FALSE(view_of(a, "y"));
  CHECK(a.members().size() == 2);  // a and the sender
  CHECK(a.down("x"));
  CHECK(a.down("y"));
  CHECK_FALSE(a.down("s"));
  CHECK_FALSE(a.down("z"));
  // Not gossiped on: a Sync carries the members only.
  a.receive(20, Sync{"s", "addr-s", false, {}});
  auto out = a.take_outbox();
  REQUIRE_FALSE(out.empty());
  CHECK(std::get<Sync>(out.back().message).members.size() == 2);
  a.receive(30, sync_from("s", {fact("x", 3, MemberState::kAlive)}));  // old news
  CHECK_FALSE(view_of(a, "x"));
  a.tick(10 + config.reap_after_ms);
  CHECK_FALSE(a.down("x"));
}

TEST_CASE("membership: a dead or departed member is reaped after reap_after_ms and old gossip does not revive it") {
  SplitMix64 random(1);
  MembershipConfig config = MembershipConfig::local();
  config.reap_after_ms = 1000;
  Membership a(config, "a", "addr-a", random);
  a.join(0, {});
  using S = MemberState;
  a.receive(10, sync_from("s", {fact("x", 2, S::kAlive), fact("y", 0, S::kAlive)}));
  a.receive(20, sync_from("s", {fact("x", 2, S::kDead), fact("y", 1, S::kLeft)}));
  a.take_outbox();

  a.tick(1019);
  CHECK(view_of(a, "x"));
  CHECK(a.take_released_addresses().empty());
  REQUIRE(a.next_wake_ms().has_value());
  CHECK(*a.next_wake_ms() <= 1020);
  a.tick(1020);
  CHECK_FALSE(view_of(a, "x"));
  CHECK_FALSE(view_of(a, "y"));
  CHECK(a.members().size() == 2);
  CHECK(a.reaped_total() == 2);
  CHECK(a.take_released_addresses() == std::vector<std::string>{"addr-x", "addr-y"});
  CHECK(a.down("x"));
  CHECK(a.take_released_addresses().empty());

  SUBCASE("old facts and messages of the reaped life are ignored") {
    a.receive(1100, sync_from("s", {fact("x", 2, S::kAlive), fact("x", 1, S::kSuspect), fact("y", 0, S::kAlive)}));
    CHECK_FALSE(view_of(a, "x"));
    CHECK_FALSE(view_of(a, "y"));
    a.take_outbox();
    // A message of its own does not add it either: it is told it is dead, so that it refutes.
    a.receive(1200, ping_from("x", "a", 9, {}));
    CHECK_FALSE(view_of(a, "x"));
    bool told = false;
    for (const auto& out : a.take_outbox()) {
      const auto* sync = std::get_if<Sync>(&out.message);
      if (sync == nullptr || out.to_address != "addr-x") continue;
      for (const auto& u : sync->members) told = told || (u.id == "x" && u.incarnation == 2 && u.state == S::kDead);
    }
    CHECK(told);
    CHECK(a.members().size() == 2);
  }
  SUBCASE("a new life (a higher incarnation) comes back") {
    a.receive(1100, sync_from("s", {fact("x", 3, S::kAlive)}));
    REQUIRE(view_of(a, "x"));
    CHECK(view_of(a, "x")->state == S::kAlive);
    CHECK(view_of(a, "x")->incarnation == 3);
  }
  SUBCASE("the memory of a reaped member lasts another reap_after_ms") {
    a.tick(2019);
    a.receive(2019, sync_from("s", {fact("x", 2, S::kAlive)}));
    CHECK_FALSE(view_of(a, "x"));
    a.tick(2020);
    CHECK_FALSE(a.next_wake_ms() <= std::optional<uint64_t>(2020));
    a.receive(2020, sync_from("s", {fact("x", 0, S::kAlive)}));  // an unknown member again
    CHECK(view_of(a, "x"));
  }
}

TEST_CASE("membership: a member heard at a new address keeps one entry and its old address is released") {
  SplitMix64 random(1);
  Membership a(MembershipConfig::local(), "a", "addr-a", random);
  using S = MemberState;
  a.receive(10, sync_from("s", {fact("x", 1, S::kAlive)}));
  a.take_released_addresses();
  MemberUpdate moved = fact("x", 2, S::kAlive);
  moved.address = "addr-x2";
  a.receive(20, sync_from("s", {moved}));
  CHECK(a.members().size() == 3);
  CHECK(view_of(a, "x")->address == "addr-x2");
  CHECK(a.take_released_addresses() == std::vector<std::string>{"addr-x"});

  SUBCASE("an address another member still uses stays") {
    MemberUpdate z = fact("z", 0, S::kAlive);
    z.address = "addr-x2";
    a.receive(30, sync_from("s", {z}));
    MemberUpdate back = fact("x", 3, S::kAlive);
    a.receive(40, sync_from("s", {back}));
    CHECK(a.take_released_addresses().empty());
  }
}

TEST_CASE("membership: each Sync round also Syncs a seed that is not a live member") {
  SplitMix64 random(1);
  MembershipConfig config = MembershipConfig::local();
  Membership a(config, "a", "addr-a", random);
  a.join(0, {"addr-s", "addr-t"});
  a.receive(10, sync_from("s", {fact("s", 0, MemberState::kAlive)}));  // s is live; t never answered
  a.take_outbox();
  a.tick(config.sync_interval_ms);
  std::set<std::string> synced;
  for (const auto& out : a.take_outbox()) {
    if (std::holds_alternative<Sync>(out.message)) synced.insert(out.to_address);
  }
  CHECK(synced == std::set<std::string>{"addr-s", "addr-t"});
}

TEST_CASE("membership: a node hearing itself ALIVE at another address refutes") {
  SplitMix64 random(1);
  Membership a(MembershipConfig::local(), "a", "addr-a2", random);
  a.receive(10, sync_from("s", {fact("a", 0, MemberState::kAlive)}));  // addr-a: its previous life
  CHECK(a.incarnation() == 1);
  CHECK(view_of(a, "a")->address == "addr-a2");
}

TEST_CASE(
    "membership: the gossip queue sends liveness first, then fewest-sent, newest first, each a bounded number of "
    "times") {
  SplitMix64 random(1);
  MembershipConfig config = MembershipConfig::local();
  Membership a(config, "a", "addr-a", random);
  uint64_t seq = 0;
  auto next_ack_ids = [&] {
    a.take_outbox();
    ++seq;
    a.receive(100 + seq, ping_from("s", "a", seq, {}));
    std::vector<std::string> ids;
    auto out = a.take_outbox();
    for (const auto& u : std::get<Ack>(out.at(0).message).updates) ids.push_back(u.id);
    return ids;
  };
  using Ids = std::vector<std::string>;

  a.receive(0, sync_from("s", {fact("b", 0, MemberState::kAlive), fact("c", 0, MemberState::kAlive)}));
  CHECK(next_ack_ids() == Ids{"c", "b", "s"});                           // all new: newest first
  a.receive(10, sync_from("s", {fact("b", 0, MemberState::kSuspect)}));  // replaces b's entry, unsent
  a.set_local_load(LoadDigest{3, 1, 50, 0});                             // load only: after every liveness change
  // Live: a, b, c, s, so each entry goes out retransmit_mult * ceil(log10(5)) = 4 times.
  REQUIRE(config.retransmit_mult == 4);
  CHECK(next_ack_ids() == Ids{"b", "c", "s", "a"});
  CHECK(next_ack_ids() == Ids{"b", "c", "s", "a"});
  CHECK(next_ack_ids() == Ids{"b", "c", "s", "a"});  // c and s: 4th send
  CHECK(next_ack_ids() == Ids{"b", "a"});            // b and a: 4th send
  CHECK(next_ack_ids().empty());
  CHECK(view_of(a, "b")->state == MemberState::kSuspect);
}

TEST_CASE("membership: timers start at join, and join skips its own address") {
  SplitMix64 random(1);
  MembershipConfig config = MembershipConfig::local();
  Membership a(config, "a", "addr-a", random);
  CHECK_FALSE(a.next_wake_ms().has_value());
  a.join(1000, {"addr-a", "addr-s"});
  CHECK(a.next_wake_ms() == 1000 + config.probe_interval_ms);
  auto out = a.take_outbox();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to_address == "addr-s");
  CHECK_FALSE(std::get<Sync>(out[0].message).reply);
}

TEST_CASE("membership: an intermediary forwards the Ack with the original seq, or Nacks") {
  SplitMix64 random(1);
  MembershipConfig config = MembershipConfig::local();
  Membership a(config, "a", "addr-a", random);
  a.receive(100, PingReq{77, "r", "addr-r", "t", "addr-t", {}});
  auto out = a.take_outbox();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to_address == "addr-t");
  const auto ping = std::get<Ping>(out[0].message);
  CHECK(ping.target_id == "t");
  CHECK(a.next_wake_ms() == 100 + config.probe_timeout_ms);

  SUBCASE("the target answers") {
    a.receive(110, Ack{ping.seq, "t", "addr-t", false, {}});
    out = a.take_outbox();
    REQUIRE(out.size() == 1);
    CHECK(out[0].to_address == "addr-r");
    CHECK(std::get<Ack>(out[0].message).seq == 77);
    CHECK_FALSE(std::get<Ack>(out[0].message).nack);
    CHECK_FALSE(a.next_wake_ms().has_value());
    // The target answered, so it is a member now: its connection stays.
    CHECK(a.take_released_addresses().empty());
  }
  SUBCASE("the target stays silent") {
    a.tick(100 + config.probe_timeout_ms - 1);
    CHECK(a.take_outbox().empty());
    a.tick(100 + config.probe_timeout_ms);
    out = a.take_outbox();
    REQUIRE(out.size() == 1);
    CHECK(out[0].to_address == "addr-r");
    CHECK(std::get<Ack>(out[0].message).seq == 77);
    CHECK(std::get<Ack>(out[0].message).nack);
    // The target's address came from the requester and names no member: its connection goes.
    CHECK(a.take_released_addresses() == std::vector<std::string>{"addr-t"});
    // A late Ack is not forwarded any more.
    a.receive(100 + config.probe_timeout_ms + 5, Ack{ping.seq, "t", "addr-t", false, {}});
    CHECK(a.take_outbox().empty());
  }
}

// --- Lifeguard ---------------------------------------------------------------------

TEST_CASE("membership: Lifeguard confirmations shorten the suspicion timeout") {
  MembershipConfig config = MembershipConfig::local();
  SplitMix64 random(1);
  Membership a(config, "a", "addr-a", random);
  a.receive(0, sync_from("s", {fact("b", 0, MemberState::kAlive), fact("c", 0, MemberState::kAlive),
                               fact("d", 0, MemberState::kAlive), fact("e", 0, MemberState::kAlive),
                               fact("f", 0, MemberState::kAlive)}));
  REQUIRE(a.live_ids().size() == 7);
  CHECK_FALSE(a.next_wake_ms().has_value());  // not joined: only the suspicion will set a deadline

  const uint64_t start = 1000;
  const double min_ms = suspicion_min_ms(config, 7);
  const double max_ms = config.suspicion_max_mult * min_ms;
  const double k = std::min<double>(config.indirect_probes, 7 - 2);
  auto expected = [&](double confirmations) {
    double t = std::max(min_ms, max_ms - (max_ms - min_ms) * std::log(confirmations + 1) / std::log(k + 1));
    return static_cast<double>(start) + t;
  };
  auto deadline = [&] { return static_cast<double>(*a.next_wake_ms()); };
  // S could not reach b directly and asks this node to try; b does answer
  // this node, which ends the relay and leaves only the suspicion's deadline.
  auto cannot_reach_b = [&](const std::string& s, uint64_t at) {
    a.take_outbox();
    a.receive(at, PingReq{at, s, "addr-" + s, "b", "addr-b", {}});
    auto out = a.take_outbox();
    REQUIRE(out.size() == 1);
    a.receive(at, Ack{std::get<Ping>(out[0].message).seq, "b", "addr-b", false, {}});
    a.take_outbox();
  };

  a.receive(start, ping_from("c", "a", 1, {fact("b", 0, MemberState::kSuspect)}));
  CHECK(view_of(a, "b")->state == MemberState::kSuspect);
  check_deadline(a.next_wake_ms(), expected(0));
  check_deadline(a.next_wake_ms(), start + max_ms);
  double previous = deadline();
  a.receive(start + 50, ping_from("d", "a", 2, {fact("b", 0, MemberState::kSuspect)}));
  CHECK(deadline() == previous);  // the same suspicion relayed is no evidence
  cannot_reach_b("c", start + 60);
  CHECK(deadline() == previous);  // c already counted: it started the suspicion
  cannot_reach_b("d", start + 100);
  check_deadline(a.next_wake_ms(), expected(1));
  CHECK(deadline() < previous);
  previous = deadline();
  cannot_reach_b("d", start + 200);  // the same member again is not independent
  CHECK(deadline() == previous);
  cannot_reach_b("e", start + 300);
  check_deadline(a.next_wake_ms(), expected(2));
  CHECK(deadline() < previous);
  cannot_reach_b("f", start + 400);
  check_deadline(a.next_wake_ms(), start + min_ms);
  cannot_reach_b("s", start + 500);  // beyond K: never below min
  check_deadline(a.next_wake_ms(), start + min_ms);
  MESSAGE("suspicion timeout with 0..3 confirmations: " << expected(0) - start << ", " << expected(1) - start << ", "
                                                        << expected(2) - start << ", " << min_ms << " ms");

  uint64_t v = a.live_version();
  a.tick(*a.next_wake_ms() - 1);
  CHECK(view_of(a, "b")->state == MemberState::kSuspect);
  uint64_t died = *a.next_wake_ms();
  a.tick(died);
  CHECK(view_of(a, "b")->state == MemberState::kDead);
  CHECK(a.live_version() > v);
  CHECK(a.next_wake_ms() == died + config.reap_after_ms);  // nothing left to do but reap it
}

TEST_CASE("membership: a PingReq for a suspect and a failed relay are confirmations") {
  MembershipConfig config = MembershipConfig::local();
  SplitMix64 random(1);
  Membership a(config, "a", "addr-a", random);
  a.receive(0, sync_from("c", {fact("d", 0, MemberState::kAlive), fact("e", 0, MemberState::kAlive),
                               fact("t", 0, MemberState::kSuspect)}));
  REQUIRE(a.live_ids().size() == 5);  // a, c, d, e, t
  a.take_outbox();
  const double min_ms = suspicion_min_ms(config, 5);
  const double max_ms = config.suspicion_max_mult * min_ms;
  check_deadline(a.next_wake_ms(), max_ms);
  a.receive(10, PingReq{5, "r", "addr-r", "t", "addr-t", {}});  // r: C = 1
  a.tick(10 + config.probe_timeout_ms);                         // a's Ping got no answer: C = 2
  auto out = a.take_outbox();
  REQUIRE(out.size() == 2);
  CHECK(out[1].to_address == "addr-r");
  CHECK(std::get<Ack>(out[1].message).nack);
  check_deadline(a.next_wake_ms(), max_ms - (max_ms - min_ms) * std::log(3.0) / std::log(4.0));
}

TEST_CASE("membership: K is capped by the members who could confirm") {
  MembershipConfig config = MembershipConfig::local();
  SplitMix64 random(1);

  SUBCASE("three live members: one confirmation is all there can be") {
    Membership a(config, "a", "addr-a", random);
    a.receive(0, ping_from("b", "a", 1, {}));
    a.receive(50, sync_from("x", {fact("b", 0, MemberState::kSuspect)}));  // live: a, b, x
    double min_ms = suspicion_min_ms(config, 3);
    check_deadline(a.next_wake_ms(), 50 + config.suspicion_max_mult * min_ms);
    // y could not reach b either: C = 1 = K. (Then this node's relay fails too.)
    a.receive(60, PingReq{1, "y", "addr-y", "b", "addr-b", {}});
    a.tick(60 + config.probe_timeout_ms);
    check_deadline(a.next_wake_ms(), 50 + min_ms);
  }
  SUBCASE("two live members: nobody can confirm, the timeout is min") {
    Membership a(config, "a", "addr-a", random);
    a.receive(0, ping_from("b", "a", 1, {}));
    a.take_outbox();
    a.join(0, {});
    // b never answers: its probe at 200 fails by the end of the period, 400.
    std::optional<uint64_t> suspected_at, dead_at;
    while (!dead_at && *a.next_wake_ms() < 5000) {
      uint64_t now = *a.next_wake_ms();
      a.tick(now);
      auto b = view_of(a, "b");
      if (b->state == MemberState::kSuspect && !suspected_at) suspected_at = now;
      if (b->state == MemberState::kDead) dead_at = now;
    }
    REQUIRE(suspected_at == 2 * config.probe_interval_ms);
    REQUIRE(dead_at.has_value());
    check_deadline(dead_at, static_cast<double>(*suspected_at) + suspicion_min_ms(config, 2));
  }
}

// --- meshes ------------------------------------------------------------------------

TEST_CASE("membership mesh: joining through one seed converges to one ALIVE view") {
  const size_t n = 8;
  Mesh mesh(n, 1);
  mesh.join_all_through_first(10);
  uint64_t last_join = mesh.now();
  auto at = mesh.run_until([&] { return mesh.converged(); }, last_join + 30000);
  REQUIRE(at.has_value());
  MESSAGE(n << " nodes: one ALIVE view " << *at - last_join << " ms after the last join ("
            << static_cast<double>(*at - last_join) / MembershipConfig::local().probe_interval_ms << " probe periods)");
  for (size_t i = 0; i < n; ++i) {
    CHECK(mesh.node(i).live_ids().size() == n);
    CHECK(mesh.node(i).incarnation() == 0);
  }
  // And it stays so.
  mesh.run_for(20000);
  CHECK(mesh.converged());
}

TEST_CASE("membership mesh: probing visits every live member once per round") {
  const size_t n = 6;
  Mesh mesh = converged_mesh(n, 2);
  std::vector<std::string> targets;
  mesh.observe([&](size_t from, const std::string&, const PeerMessage& m) {
    if (from == 0 && std::holds_alternative<Ping>(m)) targets.push_back(std::get<Ping>(m).target_id);
  });
  mesh.run_for(60 * MembershipConfig::local().probe_interval_ms);
  REQUIRE(targets.size() >= 50);
  // Within a round each of the n - 1 others once; so between two probes of
  // one member there are at most 2 (n - 1) - 1 periods.
  std::map<std::string, std::vector<size_t>> at;
  for (size_t i = 0; i < targets.size(); ++i) at[targets[i]].push_back(i);
  CHECK(at.size() == n - 1);
  CHECK(at.count(id_of(0)) == 0);
  for (const auto& [id, positions] : at) {
    for (size_t j = 1; j < positions.size(); ++j) CHECK(positions[j] - positions[j - 1] <= 2 * (n - 1) - 1);
  }
  // Shuffled: the rounds do not all follow one order.
  std::set<std::vector<std::string>> orders;
  for (size_t r = 0; r + n - 1 <= targets.size(); r += n - 1) {
    orders.insert(std::vector<std::string>(targets.begin() + r, targets.begin() + r + (n - 1)));
  }
  CHECK(orders.size() > 1);
}

TEST_CASE("membership mesh: a crashed node is suspected, then declared dead by all within the bound") {
  const size_t n = 8;
  const size_t victim = 3;
  Mesh mesh = converged_mesh(n, 3);
  uint64_t crashed_at = mesh.now();
  mesh.crash(victim);
  uint64_t bound = detection_bound_ms(MembershipConfig::local(), n);

  // Beliefs only move forward: ALIVE -> SUSPECT -> DEAD (the victim cannot refute).
  std::map<size_t, uint64_t> suspected_at, dead_at;
  bool went_back = false;
  auto all_dead = [&] {
    for (size_t i = 0; i < n; ++i) {
      if (i == victim) continue;
      auto state = mesh.belief(i, victim);
      went_back |= (suspected_at.count(i) || dead_at.count(i)) && state == MemberState::kAlive;
      went_back |= dead_at.count(i) && state != MemberState::kDead;
      if (state == MemberState::kSuspect && !suspected_at.count(i)) suspected_at[i] = mesh.now();
      if (state == MemberState::kDead && !dead_at.count(i)) dead_at[i] = mesh.now();
    }
    return dead_at.size() == n - 1;
  };
  auto at = mesh.run_until(all_dead, crashed_at + bound);
  REQUIRE_MESSAGE(at.has_value(), "not all declared n" << victim << " dead within " << bound << " ms");
  CHECK_FALSE(went_back);
  REQUIRE_FALSE(suspected_at.empty());
  uint64_t first_suspicion = UINT64_MAX, first_death = UINT64_MAX;
  for (const auto& [i, t] : suspected_at) first_suspicion = std::min(first_suspicion, t);
  for (const auto& [i, t] : dead_at) first_death = std::min(first_death, t);
  // The verdict came from a suspicion that ran at least its minimum timeout.
  // (A node may hear DEAD before any SUSPECT reached it: gossip is not a broadcast.)
  CHECK(first_death - first_suspicion >= static_cast<uint64_t>(suspicion_min_ms(MembershipConfig::local(), n)));
  size_t suspected_first = 0;
  for (const auto& [i, t] : suspected_at) suspected_first += t < dead_at[i];
  CHECK(suspected_first * 2 > n - 1);
  MESSAGE(n << " nodes: crash first suspected after " << first_suspicion - crashed_at
            << " ms, first declared dead after " << first_death - crashed_at << " ms, dead everywhere after "
            << *at - crashed_at << " ms (bound " << bound << " ms); " << suspected_first << " of " << n - 1
            << " saw it SUSPECT first");

  // The dead are probed no more.
  size_t probes_of_dead = 0;
  mesh.observe([&](size_t, const std::string&, const PeerMessage& m) {
    if (const auto* p = std::get_if<Ping>(&m)) probes_of_dead += p->target_id == id_of(victim);
    if (const auto* r = std::get_if<PingReq>(&m)) probes_of_dead += r->target_id == id_of(victim);
  });
  mesh.run_for(10000);
  CHECK(probes_of_dead == 0);
  for (size_t i = 0; i < n; ++i) {
    if (i != victim) CHECK(mesh.belief(i, victim) == MemberState::kDead);
  }
}

TEST_CASE("membership mesh: a briefly unreachable node refutes its suspicion") {
  const size_t n = 6;
  const size_t shy = 2;
  Mesh mesh = converged_mesh(n, 4);
  bool anyone_dead = false;
  auto watch = [&] {
    for (size_t i = 0; i < n; ++i) {
      for (const auto& m : mesh.node(i).members()) anyone_dead |= m.state == MemberState::kDead;
    }
  };
  mesh.set_isolated(shy, true);
  auto suspected = mesh.run_until(
      [&] {
        watch();
        for (size_t i = 0; i < n; ++i) {
          if (mesh.belief(i, shy) == MemberState::kSuspect) return true;
        }
        return false;
      },
      mesh.now() + 10000);
  REQUIRE(suspected.has_value());
  mesh.set_isolated(shy, false);
  auto refuted = mesh.run_until(
      [&] {
        watch();
        for (size_t i = 0; i < n; ++i) {
          auto v = mesh.view(i, shy);
          if (v->state != MemberState::kAlive || v->incarnation == 0) return false;
        }
        return true;
      },
      *suspected + 10000);
  REQUIRE(refuted.has_value());
  MESSAGE("suspicion of an unreachable node refuted everywhere " << *refuted - *suspected << " ms after it began");
  mesh.run_for(20000);
  watch();
  CHECK_FALSE(anyone_dead);
  CHECK(mesh.node(shy).incarnation() >= 1);
  CHECK(mesh.converged());
}

TEST_CASE("membership mesh: 5% message loss for five minutes declares nobody dead") {
  const size_t n = 10;
  Mesh mesh(n, 10, MembershipConfig::local(), /*loss=*/0.05);
  mesh.join_all_through_first(10);
  REQUIRE(mesh.run_until([&] { return mesh.converged(); }, mesh.now() + 60000));
  size_t deaths = 0;
  mesh.run_until(
      [&] {
        for (size_t i = 0; i < n; ++i) {
          for (const auto& m : mesh.node(i).members()) deaths += m.state == MemberState::kDead;
        }
        return deaths > 0;
      },
      mesh.now() + 5 * 60 * 1000);
  uint64_t refutations = 0;
  for (size_t i = 0; i < n; ++i) refutations += mesh.node(i).incarnation();
  MESSAGE("5% loss, " << n << " nodes, 5 min: " << deaths << " false deaths, " << refutations << " suspicions refuted");
  CHECK(deaths == 0);
  // Under loss a fresh suspicion may be open at any instant; one ALIVE view returns.
  CHECK(mesh.run_until([&] { return mesh.converged(); }, mesh.now() + 10000));
}

TEST_CASE("membership mesh: a node that leaves is LEFT everywhere, never DEAD") {
  const size_t n = 5;
  const size_t leaver = 4;
  Mesh mesh = converged_mesh(n, 5);
  mesh.leave(leaver);
  auto at = mesh.run_until(
      [&] {
        for (size_t i = 0; i < n; ++i) {
          if (mesh.belief(i, leaver) != MemberState::kLeft) return false;
        }
        return true;
      },
      mesh.now() + 10000);
  REQUIRE(at.has_value());
  CHECK(mesh.node(leaver).incarnation() == 1);
  mesh.crash(leaver);  // it stops after leaving
  mesh.run_for(20000);
  for (size_t i = 0; i < n; ++i) {
    CHECK(mesh.belief(i, leaver) == MemberState::kLeft);
    if (i == leaver) continue;
    auto live = mesh.node(i).live_ids();
    CHECK(std::find(live.begin(), live.end(), id_of(leaver)) == live.end());
    CHECK(live.size() == n - 1);
  }
}

TEST_CASE("membership mesh: a restarted node comes back ALIVE with a higher incarnation") {
  const size_t n = 5;
  const size_t victim = 2;
  Mesh mesh = converged_mesh(n, 6);
  mesh.crash(victim);
  auto others_see = [&](MemberState state) {
    for (size_t i = 0; i < n; ++i) {
      if (i != victim && mesh.belief(i, victim) != state) return false;
    }
    return true;
  };
  REQUIRE(mesh.run_until([&] { return others_see(MemberState::kDead); }, mesh.now() + 30000));
  uint64_t dead_incarnation = mesh.view(0, victim)->incarnation;

  mesh.restart(victim, 0);
  CHECK(mesh.node(victim).incarnation() == 0);
  auto at = mesh.run_until(
      [&] {
        for (size_t i = 0; i < n; ++i) {
          auto v = mesh.view(i, victim);
          if (!v || v->state != MemberState::kAlive || v->incarnation <= dead_incarnation) return false;
        }
        return mesh.converged();
      },
      mesh.now() + 30000);
  REQUIRE(at.has_value());
  CHECK(mesh.node(victim).incarnation() > dead_incarnation);
}

TEST_CASE("membership mesh: replica ids reach every node, and a restart under a new one wins") {
  const size_t n = 5;
  const size_t victim = 2;
  Mesh mesh = converged_mesh(n, 10);
  // Every node knows every member's replica id: its id, or `victim_replica`.
  auto replica_ids_known = [&](const std::string& victim_replica) {
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < n; ++j) {
        auto v = mesh.view(i, j);
        if (!v || v->replica_id != (j == victim ? victim_replica : id_of(j))) return false;
      }
    }
    return true;
  };
  // The default replica id (the node id) reaches every node through gossip,
  // also where the member was first learnt as a sender, with none.
  REQUIRE(mesh.run_until([&] { return replica_ids_known(id_of(victim)); }, mesh.now() + 10000));
  uint64_t before = mesh.view(0, victim)->incarnation;

  SUBCASE("after it was declared dead") {
    mesh.crash(victim);
    REQUIRE(mesh.run_until([&] { return mesh.belief(0, victim) == MemberState::kDead; }, mesh.now() + 30000));
    before = mesh.view(0, victim)->incarnation;
  }
  SUBCASE("before anyone noticed it was gone") {
    // Same incarnation, other replica id: it refutes its previous life.
    mesh.crash(victim);
  }
  mesh.restart(victim, 0, "n2#2");
  CHECK(mesh.node(victim).self_replica_id() == "n2#2");
  CHECK(mesh.node(victim).incarnation() == 0);
  auto at = mesh.run_until(
      [&] {
        for (size_t i = 0; i < n; ++i) {
          auto v = mesh.view(i, victim);
          if (v->state != MemberState::kAlive || v->incarnation <= before) return false;
        }
        return replica_ids_known("n2#2") && mesh.converged();
      },
      mesh.now() + 30000);
  REQUIRE(at.has_value());
  CHECK(mesh.node(victim).incarnation() > before);
}

TEST_CASE("membership mesh: each node piggybacks an update at most retransmit_mult * ceil(log10(N + 1)) times") {
  const size_t n = 5;
  const size_t leaver = 4;
  MembershipConfig config = MembershipConfig::local();
  Mesh mesh = converged_mesh(n, 7);
  std::map<size_t, uint32_t> sent_by;
  size_t largest = 0;
  mesh.observe([&](size_t from, const std::string&, const PeerMessage& m) {
    const auto& updates = piggybacked(m);
    largest = std::max(largest, updates.size());
    for (const auto& u : updates) sent_by[from] += u.id == id_of(leaver) && u.state == MemberState::kLeft;
  });
  mesh.leave(leaver);
  mesh.run_for(30000);
  // Live members while it spreads: 5, then 4; ceil(log10(N + 1)) is 1 for both.
  const uint32_t limit = config.retransmit_mult * 1;
  uint32_t total = 0;
  for (const auto& [from, count] : sent_by) {
    CAPTURE(from);
    CHECK(count <= limit);
    total += count;
  }
  CHECK(sent_by[leaver] == limit);
  CHECK(total > limit);  // others passed it on
  CHECK(largest <= config.max_updates_per_message);
  MESSAGE("LEFT piggybacked " << total << " times in all, at most " << limit << " per node");
}

TEST_CASE("membership mesh: a target reachable only through others is not suspected") {
  const size_t n = 5;
  Mesh mesh = converged_mesh(n, 8);
  mesh.cut_link(0, 1);              // n0 -> n1 only
  std::set<uint64_t> probes_of_n1;  // seqs of n0's Pings to n1
  size_t ping_reqs_for_n1 = 0, forwarded_acks_to_n0 = 0, suspicions = 0;
  mesh.observe([&](size_t from, const std::string& to, const PeerMessage& m) {
    if (const auto* p = std::get_if<Ping>(&m); p && from == 0 && p->target_id == id_of(1)) probes_of_n1.insert(p->seq);
    if (const auto* r = std::get_if<PingReq>(&m)) ping_reqs_for_n1 += from == 0 && r->target_id == id_of(1);
    if (const auto* a = std::get_if<Ack>(&m)) {
      forwarded_acks_to_n0 += to == address_of(0) && !a->nack && from != 1 && probes_of_n1.count(a->seq);
    }
    for (const auto& u : piggybacked(m)) suspicions += u.state != MemberState::kAlive;
  });
  mesh.run_for(60000);
  CHECK(ping_reqs_for_n1 > 0);
  CHECK(forwarded_acks_to_n0 > 0);
  CHECK(suspicions == 0);
  for (size_t i = 0; i < n; ++i) {
    for (const auto& m : mesh.node(i).members()) {
      CHECK(m.state == MemberState::kAlive);
      CHECK(m.incarnation == 0);
    }
  }
  MESSAGE("one-way cut n0->n1 for 60 s: " << ping_reqs_for_n1 << " indirect probes of n1, no suspicion");
}

TEST_CASE("membership mesh: a load digest reaches every node with its new version") {
  const size_t n = 6;
  const size_t source = 2;
  Mesh mesh = converged_mesh(n, 9);
  LoadDigest load;
  load.pending = 42;
  load.free_slots = 1;
  load.backlog_ms = 900;
  load.version = 999;  // ignored: the node numbers its own digests
  uint64_t before = mesh.view(source, source)->load.version;
  uint64_t published_at = mesh.now();
  mesh.set_load(source, load);
  uint64_t version = mesh.view(source, source)->load.version;
  CHECK(version == before + 1);
  auto at = mesh.run_until(
      [&] {
        for (size_t i = 0; i < n; ++i) {
          auto v = mesh.view(i, source);
          if (v->load.version != version || v->load.pending != 42 || v->load.backlog_ms != 900) return false;
        }
        return true;
      },
      published_at + 10000);
  REQUIRE(at.has_value());
  MESSAGE("load digest on all " << n << " nodes " << *at - published_at << " ms after publishing");
  for (size_t i = 0; i < n; ++i) {
    CHECK(mesh.view(i, source)->incarnation == 0);
    CHECK(mesh.view(i, source)->state == MemberState::kAlive);
  }
}

TEST_CASE("membership mesh: a run is determined by its seed") {
  auto run = [](uint64_t seed) {
    Mesh mesh(6, seed, MembershipConfig::local(), /*loss=*/0.05);
    mesh.join_all_through_first(10);
    mesh.run_for(3000);
    mesh.crash(3);
    mesh.run_for(6000);
    mesh.set_load(1, LoadDigest{5, 2, 100, 0});
    mesh.restart(3, 0);
    mesh.run_for(6000);
    return mesh.trace_hash();
  };
  uint64_t first = run(11);
  CHECK(run(11) == first);
  CHECK(run(12) != first);
}

TEST_CASE("membership mesh: a crashed node is reaped everywhere and stays forgotten") {
  const size_t n = 5;
  const size_t victim = 3;
  MembershipConfig config = MembershipConfig::local();
  config.reap_after_ms = 3000;
  Mesh mesh(n, 21, config);
  mesh.join_all_through_first(10);
  REQUIRE(mesh.run_until([&] { return mesh.converged(); }, mesh.now() + 30000));
  mesh.crash(victim);
  auto forgotten = [&] {
    for (size_t i = 0; i < n; ++i) {
      if (i != victim && (mesh.view(i, victim) || mesh.node(i).members().size() != n - 1)) return false;
    }
    return true;
  };
  REQUIRE(mesh.run_until(forgotten, mesh.now() + detection_bound_ms(config, n) + 2 * config.reap_after_ms));
  // Gossip goes on for several reap periods: nobody brings it back.
  for (int period = 0; period < 10; ++period) {
    mesh.run_for(config.reap_after_ms);
    CHECK(forgotten());
  }
}

TEST_CASE("membership mesh: a node restarted at new addresses leaves one entry everywhere") {
  const size_t n = 4;
  const size_t victim = 2;
  MembershipConfig config = MembershipConfig::local();
  config.reap_after_ms = 3000;
  Mesh mesh(n, 22, config);
  mesh.join_all_through_first(10);
  REQUIRE(mesh.run_until([&] { return mesh.converged(); }, mesh.now() + 30000));
  for (int restart = 1; restart <= 5; ++restart) {
    mesh.crash(victim);
    mesh.run_for(restart % 2 == 0 ? 100 : 5000);  // sometimes before anyone notices, sometimes once it is dead
    std::string address = "mem://n2-life" + std::to_string(restart);
    mesh.restart_at(victim, 0, address);
    auto one_entry_at_new_address = [&] {
      for (size_t i = 0; i < n; ++i) {
        auto v = mesh.view(i, victim);
        if (!v || v->address != address || v->state != MemberState::kAlive || mesh.node(i).members().size() != n) {
          return false;
        }
      }
      return mesh.converged();
    };
    CAPTURE(restart);
    REQUIRE(mesh.run_until(one_entry_at_new_address, mesh.now() + 30000));
  }
}

}  // namespace
}  // namespace mesh
