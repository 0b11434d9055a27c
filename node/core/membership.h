// Membership: SWIM failure detection and gossip dissemination, with the
// Lifeguard refinements, as a sans-IO state machine. Timers run from join().
//
// Probing. Each probe period the node pings one member: round-robin over
// the live members other than itself, reshuffled every round, so every
// member is probed within N periods; the dead and the left are skipped. No
// Ack within probe_timeout_ms: it asks indirect_probes other ALIVE members
// to ping the target (PingReq); each forwards the target's Ack with the
// original seq, or Nacks when the target stays silent for probe_timeout_ms.
// No Ack by the end of the period: the target becomes SUSPECT at its
// current incarnation.
//
// Suspicion. A suspect becomes DEAD after a timeout that starts at
//   max = suspicion_max_mult * min,  min = suspicion_mult * log10(max(N,1)+1) * probe_interval
// (N = live members when the suspicion starts) and shrinks toward min as
// independent confirmations arrive (Lifeguard):
//   timeout = max(min, max - (max - min) * log(C + 1) / log(K + 1)),
// K = min(indirect_probes, N - 2) confirmations expected (timeout = min when
// K = 0); C = distinct members, other than the suspect and the one whose
// report started the suspicion, that showed they cannot reach the suspect
// either: this node when its own probe or a relayed Ping fails, S when a
// PingReq for the suspect comes from S (its direct probe failed), I when I
// Nacks this node's probe of the suspect. A suspicion heard again through
// gossip does not count: a MemberUpdate does not say who first suspected,
// so a relayed copy is no independent evidence.
//
// Refutation. Hearing itself SUSPECT, DEAD or LEFT at incarnation i >= its
// own, or ALIVE with a fact of a previous life (incarnation i > its own, or
// its own with a newer load version, another replica id or another address),
// the node sets
// its incarnation to i + 1 and gossips ALIVE; that is how a restarted node
// (incarnation 0) rejoins. Hearing an accusation it already refuted, it queues its ALIVE
// again. A message to a suspect carries its suspicion first (Lifeguard's
// buddy system) so it can refute.
//
// Dissemination. Updates piggyback on Ping/PingReq/Ack: one queue entry per
// member, always sending the newest fact about it, each sent at most
//   retransmit_mult * ceil(log10(N + 1))      (N = live members)
// times; liveness changes go before load-only changes, then fewest-sent
// first, then newest first. Sends to a suspect do not count: it may be gone.
// Every sync_interval_ms the node does a full state exchange (Sync) with one
// random live member, and with one random DEAD member and one random seed
// that is not a live member, so that a healed partition finds its way back
// (through the seed once the dead are reaped); while it knows no other live
// member it Syncs with all its seeds again. Joining is a Sync to each seed. leave()
// gossips LEFT at a higher incarnation; the node then stays LEFT.
//
// Precedence of facts about a member, at the receiver:
//   higher incarnation wins; at equal incarnation DEAD/LEFT > SUSPECT > ALIVE;
//   DEAD/LEFT of incarnation i yields only to ALIVE, DEAD or LEFT of an
//   incarnation > i (a suspicion cannot revive a member). A newer load
//   version at the same incarnation and state replaces only the load.
// A DEAD or LEFT fact about a member this node does not know only leaves a
// tombstone (see Reaping; down() reports it): the member is not added, so
// the death of a reaped member never travels on through a node that learnt
// it late. A message from an unknown sender adds it as ALIVE at incarnation 0.
//
// Reaping. A member DEAD or LEFT for reap_after_ms (memberlist's
// GossipToTheDeadTime) leaves the table; its address, unless another member
// uses it, is released (take_released_addresses) so the caller closes its
// connection. For another reap_after_ms a tombstone keeps its incarnation:
// facts about it at that incarnation or below, and messages from it, do not
// bring it back (a late ALIVE cannot resurrect it), while a new life (a
// higher incarnation) does. A message from a tombstoned member is answered
// with its death, so a restarted node refutes it and rejoins. After the
// tombstone, an old fact may add it again as unknown: it is then probed,
// declared dead and reaped once more. A member heard at a new address (a
// restart on a new port: it refutes with a higher incarnation) keeps one
// entry, and its old address is released.
//
// Replica ids. Every member has a replica id, the id its disk goes by in
// partition groups ("<id>#<disk id>"; a node whose disk was wiped comes back
// under a new one). It travels with the incarnation: an accepted fact that
// carries one replaces the member's, like the address; a fact that does not
// override anything fills it in only at the same incarnation while it is
// still unknown (empty: a sender learnt from a message, before any fact
// about it arrived). A node hearing itself ALIVE at its own incarnation
// under another replica id refutes (a previous life's disk), so the new
// replica id always comes with a higher incarnation.
//
// Incarnations never wrap. No real run of restarts and refutations comes
// near kMaxIncarnation, so a fact above it is corrupt and dropped, and a
// node's own incarnation saturates there instead of wrapping to 0 (which
// would leave it refuting with a number everyone ignores).
//
// Invariants: a node never believes itself anything but ALIVE (it refutes)
// until it leaves; its own incarnation only grows; after tick(now) nothing
// is due at or before now; output order never depends on hash order.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "node/env/random.h"
#include "protocol/messages.h"
#include "protocol/peer_messages.h"

namespace mesh {

struct MembershipConfig {
  uint64_t probe_interval_ms = 1000;
  uint64_t probe_timeout_ms = 500;
  uint32_t indirect_probes = 3;
  uint32_t suspicion_mult = 4;
  uint32_t suspicion_max_mult = 6;
  uint32_t retransmit_mult = 4;
  uint64_t sync_interval_ms = 30000;
  size_t max_updates_per_message = 16;
  // A DEAD or LEFT member is forgotten this long after it went down, and its
  // tombstone lasts as long again (memberlist's GossipToTheDeadTime).
  uint64_t reap_after_ms = 30000;

  // memberlist's LAN profile (the defaults above) and a faster one for local
  // meshes, tests and the simulator.
  static MembershipConfig lan() { return {}; }
  static MembershipConfig local() { return {200, 100, 3, 4, 6, 4, 5000, 16}; }
};

struct OutgoingPeerMessage {
  std::string to_address;
  PeerMessage message;
  // Held until the turn's writes are durable whatever it carries (a lone
  // voter's appends): may_leave_before_sync cannot tell from the content.
  bool after_sync = false;
};

// One member as this node believes it to be: the very record `meshctl
// members` shows (protocol/messages.h).
using MemberView = MemberInfo;

class Membership {
 public:
  static constexpr uint64_t kMaxIncarnation = uint64_t{1} << 62;

  // self_replica_id: this node's id in partition groups; empty means self_id.
  Membership(MembershipConfig config, std::string self_id, std::string self_address, Random& random,
             std::string self_replica_id = {});

  // Starts the probe and sync timers and sends a Sync to each seed address
  // (its own address is skipped).
  void join(uint64_t now_ms, const std::vector<std::string>& seed_addresses);
  // Gossips LEFT at a higher incarnation; the node keeps answering until it stops.
  void leave(uint64_t now_ms);
  void receive(uint64_t now_ms, const PeerMessage& message);
  // Runs probes, probe timeouts, suspicion timeouts and sync rounds due by now.
  void tick(uint64_t now_ms);
  // Publishes this node's load; it rides the next gossip with a new version.
  void set_local_load(const LoadDigest& load);

  // Messages to send, in the order produced; the caller takes them all.
  std::vector<OutgoingPeerMessage> take_outbox();
  // Addresses no member uses any more (reaped, or moved to a new address),
  // in the order released: the caller closes its connections to them. A
  // later message to one of them may dial it again.
  std::vector<std::string> take_released_addresses();
  // Other members that joined this node's view or changed state, in order:
  // the caller takes them all (the node's events).
  struct Change {
    std::string id;
    MemberState state = MemberState::kAlive;
    bool joined = false;  // new to this node's view
  };
  std::vector<Change> take_changes();
  // Members reaped since this node started.
  uint64_t reaped_total() const;
  // Earliest instant tick() has something to do. After receive() it may be
  // now or earlier (a confirmation cut a suspicion short): tick at once.
  std::optional<uint64_t> next_wake_ms() const;

  // Every member known, this node included, sorted by id.
  std::vector<MemberView> members() const;
  // One member by id, or nullopt if unknown.
  std::optional<MemberView> find(const std::string& id) const;
  // The members for which keep(state, load) holds, sorted by id; copies only those.
  std::vector<MemberView> members_where(const std::function<bool(MemberState, const LoadDigest&)>& keep) const;
  // True when the member is DEAD or LEFT, or was and is still remembered so
  // (a tombstone).
  bool down(const std::string& id) const;
  // Ids of ALIVE and SUSPECT members (suspects still own partitions until
  // declared dead), this node included, sorted.
  std::vector<std::string> live_ids() const;
  // Grows whenever live_ids() changes; cheap change detection for the ring.
  uint64_t live_version() const;
  // Grows whenever any member's state, load or replica id changes, or one is
  // reaped or buried: callers
  // that scan the view (victim choice) skip the scan when nothing changed.
  uint64_t view_version() const;
  const std::string& self_id() const;
  const std::string& self_replica_id() const;
  uint64_t incarnation() const;

 private:
  struct Member {
    std::string address;
    uint64_t incarnation = 0;
    MemberState state = MemberState::kAlive;
    LoadDigest load;
    uint64_t state_since_ms = 0;
    std::string replica_id;  // empty while unknown (learnt from a message, not yet from a fact)
  };
  // The probe of the current period; gone once acked or once its target is down.
  struct Probe {
    std::string target_id;
    uint64_t seq = 0;
    uint64_t indirect_at_ms = 0;  // still no Ack then: ask others
    bool indirect_sent = false;
  };
  // A PingReq this node serves, keyed by the seq of its own Ping to the target.
  struct Relay {
    std::string requester_id;
    std::string requester_address;
    uint64_t requester_seq = 0;
    std::string target_id;
    std::string target_address;  // as the requester named it: released when the relay ends
    uint64_t nack_at_ms = 0;
  };
  struct Suspicion {
    uint64_t start_ms = 0;
    double min_ms = 0;
    double max_ms = 0;
    uint32_t expected = 0;            // K
    std::set<std::string> reporters;  // the first reporter, then confirmations
    uint64_t deadline_ms = 0;
  };
  // Dissemination order: liveness before load, fewest sent, newest first.
  struct BroadcastKey {
    bool load_only = false;
    uint32_t transmits = 0;
    uint64_t newest_first = 0;  // falls with every enqueue
    std::string id;
    auto operator<=>(const BroadcastKey&) const = default;
  };
  using StatePredicate = bool (*)(MemberState);
  // What is kept of a reaped member, until `until_ms`.
  struct Tombstone {
    uint64_t incarnation = 0;
    MemberState state = MemberState::kDead;
    uint64_t until_ms = 0;
  };

  void on(uint64_t now_ms, const Ping& ping);
  void on(uint64_t now_ms, const PingReq& req);
  void on(uint64_t now_ms, const Ack& ack);
  void on(uint64_t now_ms, const Sync& sync);

  // Merging facts.
  void merge_all(uint64_t now_ms, const std::vector<MemberUpdate>& updates, const std::string& reporter);
  void merge(uint64_t now_ms, const MemberUpdate& update, const std::string& reporter);
  void learn_sender(uint64_t now_ms, const std::string& id, const std::string& address);
  void add_member(uint64_t now_ms, const MemberUpdate& update, const std::string& reporter);
  void accept(uint64_t now_ms, const MemberUpdate& update, Member& member, const std::string& reporter);
  void hear_about_self(const MemberUpdate& update);
  void refute(uint64_t heard_incarnation);
  void set_state(uint64_t now_ms, const std::string& id, Member& member, MemberState state);

  // Reaping.
  void reap(uint64_t now_ms);
  void bury(uint64_t now_ms, const std::string& id, uint64_t incarnation, MemberState state);
  void release_address(const std::string& address);
  // True when a tombstone says `update` is news of the reaped life (old news).
  bool buried(const MemberUpdate& update) const;
  void tell_reaped(const std::string& id, const std::string& address);

  // Suspicion.
  void suspect(uint64_t now_ms, const std::string& id);
  void start_suspicion(uint64_t now_ms, const std::string& id, const std::string& reporter);
  void confirm_suspicion(const std::string& id, const std::string& reporter);
  static uint64_t suspicion_deadline_ms(const Suspicion& s);
  void expire_suspicions(uint64_t now_ms);

  // Probing.
  void start_probe(uint64_t now_ms);
  void end_probe_period(uint64_t now_ms);
  void send_indirect_probes();
  std::optional<std::string> next_probe_target();
  void expire_relays(uint64_t now_ms);

  // Anti-entropy.
  void sync_round();
  void send_sync(const std::string& address, bool reply);
  std::vector<MemberUpdate> full_state() const;

  // Dissemination.
  void enqueue(const std::string& id, bool load_only);
  std::vector<MemberUpdate> piggyback(const std::string& to_id);
  // The first `max` queue entries, skipping member `except`.
  std::vector<BroadcastKey> peek_broadcasts(size_t max, const std::string& except) const;
  void count_sent(std::vector<BroadcastKey> keys);
  uint32_t retransmit_limit() const;

  void send(const std::string& address, PeerMessage message);
  MemberUpdate fact(const std::string& id) const;
  Member& member(const std::string& id);
  const Member& member(const std::string& id) const;
  // Ids of the other members whose state passes `keep`, sorted.
  std::vector<std::string> other_ids(StatePredicate keep, const std::string& exclude = {}) const;
  // Moves k random elements of `ids` to its front (partial Fisher-Yates) and drops the rest.
  void pick_random(std::vector<std::string>& ids, size_t k);

  MembershipConfig config_;
  std::string self_id_;
  std::string self_address_;
  Random& random_;
  std::vector<OutgoingPeerMessage> outbox_;
  uint64_t view_version_ = 0;

  // Ordered by id so that listing and full state never depend on hash order.
  std::map<std::string, Member> members_;
  size_t live_count_ = 0;  // members ALIVE or SUSPECT, this node included
  uint64_t live_version_ = 0;

  std::vector<std::string> seeds_;
  std::optional<uint64_t> next_probe_ms_;  // set by join()
  std::optional<uint64_t> next_sync_ms_;
  std::vector<std::string> probe_order_;
  size_t probe_index_ = 0;
  std::optional<Probe> probe_;
  uint64_t seq_ = 0;
  std::map<uint64_t, Relay> relays_;
  std::map<std::string, Suspicion> suspicions_;
  std::map<std::string, Tombstone> tombstones_;
  std::vector<std::string> released_;
  std::vector<Change> changes_;
  uint64_t reaped_total_ = 0;

  std::map<std::string, BroadcastKey> broadcasts_;  // by member id
  std::set<BroadcastKey> broadcast_order_;
  uint64_t enqueued_ = 0;
};

}  // namespace mesh
