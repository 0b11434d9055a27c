// Membership: SWIM failure detection and gossip dissemination, with the
// Lifeguard refinements, as a sans-IO state machine.
//
// Each probe period the node pings one member (round-robin over a shuffled
// list, so every member is probed within N periods). No Ack within
// probe_timeout_ms: it asks indirect_probes other members to ping the
// target (PingReq). No Ack by the end of the period: the target becomes
// SUSPECT. A suspect becomes DEAD after a suspicion timeout that starts at
//   max = suspicion_max_mult * min,  min = suspicion_mult * log10(max(N,1)+1) * probe_interval
// and shrinks toward min as independent confirmations arrive (Lifeguard):
//   timeout = max(min, max - (max - min) * log(C + 1) / log(K + 1)),
// K = indirect_probes confirmations expected. A member that hears it is
// suspected or dead refutes by raising its incarnation and gossiping ALIVE.
//
// Updates piggyback on Ping/PingReq/Ack, each sent at most
//   retransmit_mult * ceil(log10(N + 1))
// times, fewest-sent first. Every sync_interval_ms the node does a full
// state exchange (Sync) with one random member; joining is a Sync to each
// seed. leave() gossips LEFT at a higher incarnation.
//
// Precedence of facts about a member, at the receiver:
//   higher incarnation wins; at equal incarnation DEAD/LEFT > SUSPECT > ALIVE;
//   DEAD/LEFT of incarnation i is only overridden by ALIVE of incarnation > i.
// Invariants: a node never believes itself anything but ALIVE (it refutes);
// its own incarnation only grows; output order never depends on hash order.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "node/env/random.h"
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

  // memberlist's LAN profile (the defaults above) and a faster one for local
  // meshes, tests and the simulator.
  static MembershipConfig lan() { return {}; }
  static MembershipConfig local() { return {200, 100, 3, 4, 6, 4, 5000, 16}; }
};

struct OutgoingPeerMessage {
  std::string to_address;
  PeerMessage message;
};

struct MemberView {
  std::string id;
  std::string address;
  uint64_t incarnation = 0;
  MemberState state = MemberState::kAlive;
  LoadDigest load;
  uint64_t state_since_ms = 0;  // when this node last changed its belief
};

class Membership {
 public:
  Membership(MembershipConfig config, std::string self_id, std::string self_address, Random& random);

  // Sends a Sync to each seed address (its own address is skipped).
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
  // Earliest instant tick() has something to do.
  std::optional<uint64_t> next_wake_ms() const;

  // Every member known, this node included, sorted by id.
  std::vector<MemberView> members() const;
  // Ids of ALIVE and SUSPECT members (suspects still own partitions until
  // declared dead), this node included, sorted.
  std::vector<std::string> live_ids() const;
  // Grows whenever live_ids() changes; cheap change detection for the ring.
  uint64_t live_version() const;
  const std::string& self_id() const;
  uint64_t incarnation() const;
};

}  // namespace mesh
