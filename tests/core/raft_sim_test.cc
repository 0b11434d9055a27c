// Randomized cluster simulation of RaftGroup: 3 or 5 replicas of one group,
// a network that delays, loses, duplicates and reorders messages and cuts
// random partitions, crashes that lose everything not persisted, restarts,
// random proposals, compactions, reads, configuration changes and leadership
// transfers -- all from one seed, so a seed replays a run exactly.
//
// The harness plays the host: it applies the Ready contract (persist to a
// separate "disk", then send, then apply) and a crash rebuilds the group from
// that disk alone. A wiped replica restarts empty under a new replica id
// ("n2#2"; raft.h, "Lost disks"); the harness, like the host, then removes the
// old id and adds the new one, and the leader catches it up by snapshot and
// log. It wipes only while every configuration anywhere is full and names no
// dead id, so a majority of every configuration keeps its disk.
//
// Checked after every step: election safety (one leader per term, ever), log
// matching (same index and term => same entry and same previous term),
// leader completeness (a new leader holds every entry seen committed),
// state machine safety (every replica applies one sequence, contiguously,
// each index once), reads see every write committed before they started.
// After all faults heal: every replica is a voter again, applies the same
// entries, and a final proposal commits everywhere.
//
// Seeds as tests/sim/seed_plan.h describes: MESH_RAFT_SEEDS=N runs N seeds
// from a random base (default 1000) plus the regression seeds; MESH_RAFT_SEED=S
// replays one seed, and MESH_RAFT_TRACE=1 (events) or 2 (also messages)
// prints its trace.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "node/core/raft.h"
#include "test_random.h"
#include "tests/sim/seed_plan.h"

namespace mesh {
namespace {

using testing::SplitMix64;

constexpr uint32_t kGroup = 42;
constexpr uint64_t kStepMs = 5;
constexpr uint64_t kElectionMs = 100;
constexpr uint64_t kChaosMs = 2500;
constexpr uint64_t kHealMs = 2500;
constexpr uint64_t kSettleMs = 1500;  // after the final proposal

// Small append limits stretch replication over many messages, which opens
// the windows where a crash leaves an entry on a minority; tiny snapshot
// chunks stream every snapshot over many messages, lost and reordered ones
// included.
RaftConfig raft_sim_config(SplitMix64& random) {
  static constexpr size_t kEntries[] = {1, 2, 8, 64};
  static constexpr size_t kInflight[] = {1, 2, 4, 16};
  static constexpr size_t kAppendBytes[] = {1, 16, 4u << 20};
  static constexpr size_t kChunkBytes[] = {1, 7, 64, 1u << 20};
  RaftConfig c;
  c.group = kGroup;
  c.election_timeout_ms = kElectionMs;
  c.heartbeat_interval_ms = 20;
  c.max_entries_per_append = kEntries[random.uniform(4)];
  c.max_inflight = kInflight[random.uniform(4)];
  c.max_append_bytes = kAppendBytes[random.uniform(3)];
  c.snapshot_chunk_bytes = kChunkBytes[random.uniform(4)];
  return c;
}

uint64_t fnv(uint64_t h, const std::string& s) {
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return (h ^ 0xff) * 0x100000001b3ULL;
}

uint64_t fnv(uint64_t h, uint64_t v) {
  for (int i = 0; i < 8; ++i) h = (h ^ ((v >> (8 * i)) & 0xff)) * 0x100000001b3ULL;
  return h;
}

// Identity of an entry: everything but its index.
uint64_t content_hash(const LogEntry& e) {
  uint64_t h = fnv(0xcbf29ce484222325ULL, e.term);
  h = fnv(h, static_cast<uint64_t>(e.type));
  h = fnv(h, e.data);
  for (const auto& v : e.voters) h = fnv(h, v);
  return h;
}

struct Disk {
  HardState hard;
  Snapshot snapshot;
  std::vector<LogEntry> entries;

  uint64_t last_index() const { return entries.empty() ? snapshot.meta.index : entries.back().index; }
  uint64_t term_at(uint64_t index) const {
    return index == snapshot.meta.index ? snapshot.meta.term : entries[index - snapshot.meta.index - 1].term;
  }
  const std::vector<std::string>& config() const {
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
      if (it->type == EntryType::kConfig) return it->voters;
    }
    return snapshot.meta.voters;
  }
};

// The host's state machine: how far it applied and a hash chain of what.
struct StateMachine {
  uint64_t applied = 0;
  uint64_t chain = 0;
  std::string encode() const { return std::to_string(applied) + ":" + std::to_string(chain); }
  static StateMachine decode(const std::string& s) {
    StateMachine sm;
    if (s.empty()) return sm;
    size_t colon = s.find(':');
    sm.applied = std::stoull(s.substr(0, colon));
    sm.chain = std::stoull(s.substr(colon + 1));
    return sm;
  }
};

struct Node {
  std::string base;  // the node's name; messages are routed by it
  uint32_t incarnation = 1;
  std::string id;  // the replica id of this disk: base, then base#2, base#3... after wipes
  Disk disk;
  std::unique_ptr<SplitMix64> random;
  std::unique_ptr<RaftGroup> group;  // null while crashed
  StateMachine sm;
  uint64_t commit_recorded = 0;
  uint64_t leader_checked_term = 0;          // leader completeness was checked for this term
  std::map<uint64_t, std::string> proposed;  // index -> data, proposals this incarnation made as leader
  int side = 0;                              // partition side
  bool up() const { return group != nullptr; }
};

struct InFlight {
  uint64_t at_ms;
  uint64_t seq;
  RaftMessage message;
  bool operator>(const InFlight& o) const { return at_ms != o.at_ms ? at_ms > o.at_ms : seq > o.seq; }
};

struct EntryFact {
  uint64_t content;
  uint64_t prev_term;
};

struct PendingRead {
  std::string node;
  uint64_t min_index;  // every write committed when the read started
};

struct RunStats {
  uint64_t acked = 0;
  uint64_t applied = 0;
  uint64_t elections = 0;
  uint64_t snapshots_installed = 0;
  uint64_t wipes = 0;
  uint64_t config_changes = 0;
  uint64_t reads = 0;
};

class Simulation {
 public:
  Simulation(uint64_t seed, size_t replicas, int trace_level)
      : random_(derive_seed(seed, 0)), trace_level_(trace_level) {
    std::vector<std::string> ids;
    for (size_t i = 1; i <= replicas; ++i) ids.push_back("n" + std::to_string(i));
    for (size_t i = 0; i < ids.size(); ++i) {
      auto node = std::make_unique<Node>();
      node->base = ids[i];
      node->id = ids[i];
      node->random = std::make_unique<SplitMix64>(derive_seed(seed, i + 1));
      RaftDisk founding = RaftDisk::founding(ids);
      node->disk.snapshot = founding.snapshot;
      nodes_.push_back(std::move(node));
    }
    committed_voters_ = ids;
    loss_ = random_.chance(0.2) ? 0.0 : 0.02 + 0.08 * unit();
    dup_ = random_.chance(0.3) ? 0.0 : 0.05 * unit();
    max_delay_ms_ = 2 + random_.uniform(30);
    crash_rate_ = random_.chance(0.2) ? 0.0 : 0.0005 + 0.003 * unit();
    leader_crash_rate_ = random_.chance(0.3) ? 0.0 : 0.01 * unit();
    config_ = raft_sim_config(random_);
    partition_rate_ = random_.chance(0.3) ? 0.0 : 0.004 * unit();
    for (auto& node : nodes_) start(*node);
  }

  std::optional<std::string> run() {
    while (now_ms_ < kChaosMs && !failure_) step(/*chaos=*/true);
    heal();
    uint64_t heal_end = now_ms_ + kHealMs;
    while (now_ms_ < heal_end && !failure_) step(/*chaos=*/false);
    if (!failure_) finish();
    return failure_;
  }

  const RunStats& stats() const { return stats_; }
  std::string parameters() const {
    return "loss=" + std::to_string(loss_) + " dup=" + std::to_string(dup_) +
           " max_delay_ms=" + std::to_string(max_delay_ms_) + " crash=" + std::to_string(crash_rate_) +
           " leader_crash=" + std::to_string(leader_crash_rate_) + " partition=" + std::to_string(partition_rate_) +
           " max_entries=" + std::to_string(config_.max_entries_per_append) +
           " max_inflight=" + std::to_string(config_.max_inflight);
  }
  const std::string& trace() const { return trace_; }

 private:
  // --- one step -------------------------------------------------------------------

  void step(bool chaos) {
    now_ms_ += kStepMs;
    deliver_due();
    for (auto& node : nodes_) {
      if (node->up()) node->group->tick(now_ms_);
    }
    client_ops(chaos);
    if (chaos) faults();
    for (auto& node : nodes_) {
      if (node->up()) process_ready(*node);
    }
    check_step();
  }

  void deliver_due() {
    while (!network_.empty() && network_.top().at_ms <= now_ms_) {
      InFlight f = network_.top();
      network_.pop();
      Node* from = find_base(sender_of(f.message));
      Node* to = find_base(receiver_of(f.message));
      if (to == nullptr || !to->up() || from == nullptr || from->side != to->side) continue;
      if (trace_level_ >= 2) trace("deliver " + describe(f.message));
      to->group->step(now_ms_, f.message);
    }
  }

  void send(const RaftMessage& m) {
    if (chaos_network_ && random_.chance(loss_)) return;
    int copies = chaos_network_ && random_.chance(dup_) ? 2 : 1;
    for (int i = 0; i < copies; ++i) {
      uint64_t delay = 1 + random_.uniform(chaos_network_ ? max_delay_ms_ : 5);
      network_.push(InFlight{now_ms_ + delay, ++message_seq_, m});
    }
  }

  // The host's side of the Ready contract: persist, then send, then apply.
  void process_ready(Node& n) {
    if (!n.group->has_ready()) return;
    Ready r = n.group->take_ready();
    persist(n, r);
    for (const auto& m : r.messages) send(m);
    if (r.snapshot) load_snapshot(n, *r.snapshot);
    for (const auto& e : r.committed) apply(n, e);
    for (const auto& rs : r.read_states) check_read(n, rs);
    for (uint64_t id : r.failed_reads) pending_reads_.erase(id);
    maybe_compact(n);
  }

  void persist(Node& n, const Ready& r) {
    Disk& d = n.disk;
    if (r.snapshot) {
      d.snapshot = *r.snapshot;
      d.entries.clear();
    }
    if (r.truncate_from) {
      while (!d.entries.empty() && d.entries.back().index >= *r.truncate_from) d.entries.pop_back();
    }
    for (const auto& e : r.entries) {
      if (!d.entries.empty() && d.entries.back().index >= e.index) {
        fail(n.id + " appends entry " + std::to_string(e.index) + " over persisted ones without truncate_from");
        return;
      }
      if (e.index != d.last_index() + 1) {
        fail(n.id + " persists a gap before entry " + std::to_string(e.index));
        return;
      }
      d.entries.push_back(e);
      check_log_matching(n, e);
    }
    if (r.hard_state) {
      if (r.hard_state->term < d.hard.term) fail(n.id + " persists a smaller term");
      if (r.hard_state->term == d.hard.term && !d.hard.vote.empty() && r.hard_state->vote != d.hard.vote) {
        fail(n.id + " changes its vote within term " + std::to_string(d.hard.term));
      }
      d.hard = *r.hard_state;
    }
    if (d.hard.commit > d.last_index()) fail(n.id + " persists commit beyond its log");
  }

  void load_snapshot(Node& n, const Snapshot& s) {
    StateMachine sm = StateMachine::decode(s.data);
    if (sm.applied != s.meta.index) fail(n.id + " got snapshot data that does not match its index");
    if (s.meta.index > chain_.size() || (s.meta.index > 0 && chain_[s.meta.index - 1] != sm.chain)) {
      fail(n.id + " loads a snapshot that diverges from the applied sequence at " + std::to_string(s.meta.index));
    }
    n.sm = sm;
    ++stats_.snapshots_installed;
    trace(n.id + " installs snapshot at " + std::to_string(s.meta.index));
  }

  void apply(Node& n, const LogEntry& e) {
    if (e.index != n.sm.applied + 1) {
      fail(n.id + " applies " + std::to_string(e.index) + " after " + std::to_string(n.sm.applied));
      return;
    }
    if (e.index > n.group->commit_index()) fail(n.id + " applies an uncommitted entry");
    uint64_t content = content_hash(e);
    n.sm.applied = e.index;
    n.sm.chain = fnv(n.sm.chain, content);
    if (e.index <= content_.size()) {
      if (content_[e.index - 1] != content) {
        fail(n.id + " applies a different entry at " + std::to_string(e.index) + " (state machine safety)");
      }
    } else {
      content_.push_back(content);
      chain_.push_back(n.sm.chain);
      ++stats_.applied;
      if (e.type == EntryType::kConfig) {
        committed_voters_ = e.voters;
        trace("config committed at " + std::to_string(e.index) + ": " + join(e.voters));
      }
    }
    // The proposer applying its own proposal is when a client would hear "done".
    auto it = n.proposed.find(e.index);
    if (it != n.proposed.end()) {
      if (it->second == e.data) acked_.push_back({e.index, content});
      n.proposed.erase(it);
    }
  }

  void check_read(Node& n, const ReadState& rs) {
    auto it = pending_reads_.find(rs.request_id);
    if (it == pending_reads_.end()) {
      fail("unknown read state " + std::to_string(rs.request_id));
      return;
    }
    if (it->second.node != n.id) fail("read state came out on the wrong replica");
    if (rs.index < it->second.min_index) {
      fail("read " + std::to_string(rs.request_id) + " at " + std::to_string(rs.index) +
           " misses writes committed up to " + std::to_string(it->second.min_index));
    }
    if (rs.index > n.group->commit_index()) fail("read index beyond the leader's commit");
    ++stats_.reads;
    pending_reads_.erase(it);
  }

  void maybe_compact(Node& n) {
    uint64_t compacted = n.group->log().snapshot().index;
    if (n.sm.applied < compacted + 5 || !random_.chance(0.05)) return;
    Result<SnapshotMeta> meta = n.group->compact(n.sm.applied, n.sm.encode());
    if (!meta.ok()) {
      fail(n.id + " refused compaction: " + meta.status().message());
      return;
    }
    n.disk.snapshot = Snapshot{meta.value(), n.sm.encode()};
    auto& es = n.disk.entries;
    es.erase(es.begin(),
             std::find_if(es.begin(), es.end(), [&](const LogEntry& e) { return e.index > meta.value().index; }));
  }

  // --- client operations and faults ----------------------------------------------

  void client_ops(bool chaos) {
    if (random_.chance(chaos ? 0.3 : 0.1)) propose();
    if (random_.chance(0.03)) read();
    if (chaos && random_.chance(0.004)) transfer();
    if (random_.chance(chaos ? 0.01 : 0.05)) change_config(chaos);
    if (chaos && random_.chance(0.002)) {
      change_config(chaos);  // a burst: the second change must wait for the first to commit
      change_config(chaos);
    }
  }

  // A client that tries a random replica, then the leader it names.
  Node* leader_via_client() {
    Node* n = random_up_node();
    if (n == nullptr || n->group->role() == RaftRole::kLeader) return n;
    return find(n->group->leader_id());
  }

  void propose() {
    Node* n = leader_via_client();
    if (n == nullptr || !n->up()) return;
    std::string data = "p" + std::to_string(++proposal_seq_);
    Result<uint64_t> index = n->group->propose(data);
    if (index.ok()) n->proposed[index.value()] = data;
  }

  void read() {
    Node* n = leader_via_client();
    if (n == nullptr || !n->up()) return;
    uint64_t id = ++read_seq_;
    if (n->group->read_index(now_ms_, id).ok()) pending_reads_[id] = PendingRead{n->id, max_committed()};
  }

  void transfer() {
    Node* n = leader_via_client();
    if (n == nullptr || !n->up() || n->group->role() != RaftRole::kLeader) return;
    const auto& voters = n->group->voters();
    const std::string& to = voters[random_.uniform(voters.size())];
    if (n->group->transfer_leadership(now_ms_, to).ok()) trace(n->id + " transfers leadership to " + to);
  }

  // During chaos the change goes through a client that may miss the leader;
  // afterwards the host's membership layer finds the leader directly.
  void change_config(bool chaos) {
    Node* n = chaos ? leader_via_client() : current_leader();
    if (n != nullptr && n->up() && n->group->role() == RaftRole::kLeader) change_config(*n, chaos);
  }

  // As the host would: removes ids of wiped disks first; otherwise adds a
  // missing replica or (chaos) removes a random voter, down to one.
  void change_config(Node& leader, bool chaos) {
    Node* n = &leader;
    const auto& voters = n->group->voters();
    std::vector<std::string> dead;
    for (const auto& id : voters) {
      if (!is_current(id)) dead.push_back(id);
    }
    std::vector<std::string> missing;
    for (const auto& node : nodes_) {
      if (!std::binary_search(voters.begin(), voters.end(), node->id)) missing.push_back(node->id);
    }
    if (!dead.empty()) {
      if (n->group->propose_remove(dead.front()).ok())
        traced_config_change(n->id + " proposes removing dead " + dead.front());
    } else if (!missing.empty() && (!chaos || voters.size() == 1 || random_.chance(0.6))) {
      const std::string& id = missing[random_.uniform(missing.size())];
      if (n->group->propose_add(id).ok()) traced_config_change(n->id + " proposes adding " + id);
    } else if (chaos && voters.size() > 1) {
      std::string id = voters[random_.uniform(voters.size())];
      if (n->group->propose_remove(id).ok()) traced_config_change(n->id + " proposes removing " + id);
    }
  }

  void traced_config_change(const std::string& what) {
    ++stats_.config_changes;
    trace(what);
  }

  void faults() {
    if (Node* leader = current_leader(); leader != nullptr && random_.chance(leader_crash_rate_)) crash(*leader);
    for (auto& node : nodes_) {
      if (node->up() && random_.chance(crash_rate_)) {
        crash(*node);
      } else if (!node->up() && random_.chance(0.02)) {
        start(*node);
      }
    }
    if (partition_rate_ > 0 && random_.chance(partition_rate_)) {
      std::string desc;
      for (auto& node : nodes_) {
        node->side = static_cast<int>(random_.uniform(2));
        desc += node->id + "=" + std::to_string(node->side) + " ";
      }
      trace("partition " + desc);
    } else if (random_.chance(0.01)) {
      for (auto& node : nodes_) node->side = 0;
    }
    if (random_.chance(0.01)) maybe_wipe();
  }

  // Loses one replica's disk; it restarts empty under a new id. Only while
  // every configuration anywhere is the full one and names no dead id, so
  // the wiped replica is the only failed-for-good member of any majority.
  void maybe_wipe() {
    if (!all_configs_full_and_current()) return;
    Node& n = *nodes_[random_.uniform(nodes_.size())];
    if (n.up()) crash(n);
    n.disk = Disk{};
    n.id = n.base + "#" + std::to_string(++n.incarnation);
    ++stats_.wipes;
    trace("wipe " + n.base + ": it returns as " + n.id);
    start(n);
  }

  bool all_configs_full_and_current() const {
    auto full = [&](const std::vector<std::string>& voters) {
      if (voters.size() != nodes_.size()) return false;
      return std::all_of(voters.begin(), voters.end(), [&](const std::string& id) { return is_current(id); });
    };
    if (!full(committed_voters_)) return false;
    for (const auto& node : nodes_) {
      if (!full(node->up() ? node->group->voters() : node->disk.config())) return false;
    }
    auto copy = network_;
    for (; !copy.empty(); copy.pop()) {
      const RaftMessage& m = copy.top().message;
      if (const auto* a = std::get_if<AppendRequest>(&m)) {
        for (const auto& e : a->entries) {
          if (e.type == EntryType::kConfig && !full(e.voters)) return false;
        }
      } else if (const auto* s = std::get_if<InstallSnapshot>(&m)) {
        if (!full(s->voters)) return false;
      }
    }
    return true;
  }

  void heal() {
    trace("heal");
    chaos_network_ = false;
    for (auto& node : nodes_) {
      node->side = 0;
      if (!node->up()) start(*node);
    }
  }

  void crash(Node& n) {
    trace("crash " + n.id);
    n.group.reset();
  }

  // Builds the group from the disk alone, as after a reboot.
  void start(Node& n) {
    trace("start " + n.id + " (term " + std::to_string(n.disk.hard.term) + ", last " +
          std::to_string(n.disk.last_index()) + ")");
    n.sm = StateMachine::decode(n.disk.snapshot.data);
    n.commit_recorded = 0;
    n.leader_checked_term = 0;
    n.proposed.clear();
    RaftDisk disk{n.disk.hard, n.disk.snapshot, n.disk.entries, n.sm.applied};
    n.group = std::make_unique<RaftGroup>(config_, n.id, *n.random, std::move(disk), now_ms_);
  }

  // --- checks -----------------------------------------------------------------------

  void check_log_matching(const Node& n, const LogEntry& e) {
    uint64_t prev_term = n.disk.term_at(e.index - 1);
    EntryFact fact{content_hash(e), prev_term};
    auto [it, added] = facts_.try_emplace({e.index, e.term}, fact);
    if (!added && (it->second.content != fact.content || it->second.prev_term != fact.prev_term)) {
      fail(n.id + " holds a different entry at index " + std::to_string(e.index) + " term " + std::to_string(e.term) +
           " (log matching)");
    }
  }

  void check_step() {
    for (auto& node : nodes_) {
      if (!node->up()) continue;
      if (node->group->commit_index() > node->group->log().last_index()) fail(node->id + " commit beyond its log");
      record_commits(*node);
    }
    for (auto& node : nodes_) {
      if (!node->up() || node->group->role() != RaftRole::kLeader) continue;
      RaftGroup& g = *node->group;
      auto [it, added] = leader_of_term_.try_emplace(g.term(), node->id);
      if (added) {
        ++stats_.elections;
        trace(node->id + " leads term " + std::to_string(g.term()));
        if (chaos_network_ && random_.chance(0.3)) change_config(*node, /*chaos=*/true);
      } else if (it->second != node->id) {
        fail("two leaders in term " + std::to_string(g.term()) + ": " + it->second + " and " + node->id);
      }
      if (node->leader_checked_term != g.term()) {
        node->leader_checked_term = g.term();
        check_leader_completeness(*node);
      }
    }
  }

  void record_commits(Node& n) {
    const RaftGroup& g = *n.group;
    uint64_t from = std::max(n.commit_recorded + 1, g.log().first_index());
    for (uint64_t i = from; i <= g.commit_index(); ++i) {
      uint64_t term = *g.log().term_at(i);
      if (i > committed_term_.size()) committed_term_.resize(i, 0);
      uint64_t& known = committed_term_[i - 1];
      if (known == 0) {
        known = term;
      } else if (known != term) {
        fail(n.id + " commits term " + std::to_string(term) + " at " + std::to_string(i) + ", others term " +
             std::to_string(known));
      }
    }
    n.commit_recorded = std::max(n.commit_recorded, g.commit_index());
  }

  void check_leader_completeness(const Node& n) {
    const RaftLog& log = n.group->log();
    for (uint64_t i = log.first_index(); i <= committed_term_.size(); ++i) {
      uint64_t term = committed_term_[i - 1];
      if (term != 0 && log.term_at(i) != term) {
        fail("leader " + n.id + " of term " + std::to_string(n.group->term()) + " lacks committed entry " +
             std::to_string(i) + " (leader completeness)");
        return;
      }
    }
  }

  uint64_t max_committed() const {
    uint64_t m = 0;
    for (const auto& node : nodes_) {
      if (node->up()) m = std::max(m, node->group->commit_index());
    }
    return std::max<uint64_t>(m, committed_term_.size());
  }

  // After healing: every replica is a voter, applies the same entries, and a
  // new proposal commits everywhere.
  void finish() {
    std::string marker = "final";
    uint64_t deadline = now_ms_ + kSettleMs;
    bool proposed = false;
    while (now_ms_ < deadline && !failure_) {
      step(/*chaos=*/false);
      Node* leader = current_leader();
      if (!proposed && leader != nullptr && full_membership(*leader)) {
        proposed = leader->group->propose(marker).ok();
      }
      if (proposed && converged()) {
        check_acknowledged_applied();
        return;
      }
    }
    if (failure_) return;
    std::string state;
    for (const auto& node : nodes_) {
      state += node->id + (node->up() ? "" : "(down)") + " applied=" + std::to_string(node->sm.applied) +
               " role=" + std::string(role_name(node->group->role())) + " term=" + std::to_string(node->group->term()) +
               " voters=" + join(node->group->voters()) + "; ";
    }
    fail(std::string(proposed ? "no convergence after healing: " : "no full-membership leader after healing: ") +
         state);
  }

  bool converged() const {
    uint64_t target = content_.size();
    for (const auto& node : nodes_) {
      if (node->sm.applied != target || !full_membership(*node)) return false;
    }
    return true;
  }

  // Every replica has applied the whole sequence (converged()); each
  // acknowledged proposal must still be in it, where it was acknowledged.
  void check_acknowledged_applied() {
    for (const auto& [index, content] : acked_) {
      if (index > content_.size() || content_[index - 1] != content) {
        fail("acknowledged proposal at " + std::to_string(index) + " is not applied");
        return;
      }
    }
    stats_.acked = acked_.size();
  }

  bool full_membership(const Node& n) const {
    const auto& voters = n.group->voters();
    return voters.size() == nodes_.size() &&
           std::all_of(voters.begin(), voters.end(), [&](const std::string& id) { return is_current(id); });
  }

  Node* current_leader() {
    Node* leader = nullptr;
    for (auto& node : nodes_) {
      if (node->up() && node->group->role() == RaftRole::kLeader &&
          (leader == nullptr || node->group->term() > leader->group->term())) {
        leader = node.get();
      }
    }
    return leader;
  }

  // --- helpers ----------------------------------------------------------------------

  Node* find(const std::string& id) {
    for (auto& node : nodes_) {
      if (node->id == id) return node.get();
    }
    return nullptr;
  }

  Node* find_base(const std::string& id) {
    std::string base = id.substr(0, id.find('#'));
    for (auto& node : nodes_) {
      if (node->base == base) return node.get();
    }
    return nullptr;
  }

  bool is_current(const std::string& id) const {
    return std::any_of(nodes_.begin(), nodes_.end(), [&](const auto& node) { return node->id == id; });
  }

  Node* random_up_node() {
    std::vector<Node*> up;
    for (auto& node : nodes_) {
      if (node->up()) up.push_back(node.get());
    }
    return up.empty() ? nullptr : up[random_.uniform(up.size())];
  }

  double unit() { return static_cast<double>(random_.next_u64() >> 11) * 0x1.0p-53; }

  static std::string join(const std::vector<std::string>& v) {
    std::string s = "{";
    for (const auto& x : v) s += (s.size() > 1 ? "," : "") + x;
    return s + "}";
  }

  static std::string describe(const RaftMessage& m) {
    static const char* kNames[] = {"VoteRequest", "VoteResponse",      "AppendRequest",   "AppendResponse",
                                   "Heartbeat",   "HeartbeatResponse", "InstallSnapshot", "TimeoutNow",
                                   "SnapshotResponse"};
    std::string s = std::string(kNames[m.index()]) + " " + sender_of(m) + "->" + receiver_of(m) +
                    " term=" + std::to_string(term_of(m));
    if (const auto* a = std::get_if<AppendRequest>(&m)) {
      s += " prev=" + std::to_string(a->prev_index) + "/" + std::to_string(a->prev_term) +
           " n=" + std::to_string(a->entries.size()) + " commit=" + std::to_string(a->commit);
    } else if (const auto* r = std::get_if<AppendResponse>(&m)) {
      s += r->success ? " ok match=" + std::to_string(r->match_index)
                      : " reject=" + std::to_string(r->reject_index) + " hint=" + std::to_string(r->conflict_term) +
                            "@" + std::to_string(r->conflict_index);
    } else if (const auto* v = std::get_if<VoteRequest>(&m)) {
      s += std::string(v->pre_vote ? " pre" : "") + " last=" + std::to_string(v->last_index) + "/" +
           std::to_string(v->last_term);
    } else if (const auto* vr = std::get_if<VoteResponse>(&m)) {
      s += std::string(vr->pre_vote ? " pre" : "") + (vr->granted ? " granted" : " rejected");
    }
    return s;
  }

  void trace(const std::string& what) {
    if (trace_level_ > 0) trace_ += "t=" + std::to_string(now_ms_) + " " + what + "\n";
  }

  void fail(const std::string& what) {
    if (!failure_) failure_ = "t=" + std::to_string(now_ms_) + "ms: " + what;
  }

  SplitMix64 random_;
  int trace_level_;
  std::string trace_;
  uint64_t now_ms_ = 0;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> network_;
  uint64_t message_seq_ = 0;
  bool chaos_network_ = true;
  double loss_ = 0;
  double dup_ = 0;
  uint64_t max_delay_ms_ = 10;
  double crash_rate_ = 0;
  double leader_crash_rate_ = 0;
  RaftConfig config_;
  double partition_rate_ = 0;

  uint64_t proposal_seq_ = 0;
  uint64_t read_seq_ = 0;
  std::map<uint64_t, PendingRead> pending_reads_;
  std::map<uint64_t, std::string> leader_of_term_;
  std::map<std::pair<uint64_t, uint64_t>, EntryFact> facts_;  // (index, term) -> what it holds
  std::vector<uint64_t> committed_term_;                      // by index - 1; 0 = not seen committed
  std::vector<uint64_t> content_;                             // applied sequence, by index - 1
  std::vector<uint64_t> chain_;                               // hash chain after each index
  std::vector<std::string> committed_voters_;
  std::vector<std::pair<uint64_t, uint64_t>> acked_;  // (index, content) of acknowledged proposals
  std::optional<std::string> failure_;
  RunStats stats_;
};

size_t replicas_for(uint64_t seed) { return seed % 2 == 0 ? 3 : 5; }

TEST_CASE("raft sim: safety under crashes, partitions, loss, snapshots, membership changes and transfers") {
  test::SeedPlan plan = test::seed_plan("raft", "raft sim*", 1000, {1, 2, 3}, /*in_mesh_sim=*/false);
  int trace_level = static_cast<int>(test::env_seed_number("MESH_RAFT_TRACE").value_or(0));
  MESSAGE(plan.describe());

  auto started = std::chrono::steady_clock::now();
  RunStats total;
  int failures = 0;
  for (uint64_t seed : plan.seeds()) {
    if (failures == 3) break;
    Simulation sim(seed, replicas_for(seed), plan.full_run() ? 0 : trace_level);
    std::optional<std::string> failure = sim.run();
    if (!sim.trace().empty()) std::fputs(sim.trace().c_str(), stderr);
    const RunStats& s = sim.stats();
    total.acked += s.acked;
    total.applied += s.applied;
    total.elections += s.elections;
    total.snapshots_installed += s.snapshots_installed;
    total.wipes += s.wipes;
    total.config_changes += s.config_changes;
    total.reads += s.reads;
    if (failure) {
      ++failures;
      FAIL_CHECK("seed " << seed << " (" << replicas_for(seed) << " replicas; " << sim.parameters() << "): " << *failure
                         << "\n  replay: MESH_RAFT_TRACE=1 " << plan.replay_command(seed));
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  MESSAGE("raft sim: " << plan.seeds().size() << " seeds in " << secs << " s; applied " << total.applied
                             << ", acknowledged " << total.acked << ", leaders " << total.elections << ", snapshots "
                             << total.snapshots_installed << ", wipes " << total.wipes << ", config changes "
                             << total.config_changes << ", reads " << total.reads);
  CHECK(failures == 0);
}

}  // namespace
}  // namespace mesh
