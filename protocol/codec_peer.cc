// Node-to-node messages: membership gossip, work stealing, Raft batches,
// routing of client requests to partition leaders.

#include "protocol/codec.h"
#include "protocol/codec_detail.h"

namespace mesh {
namespace codec_detail {

void pack(Packer& p, const LoadDigest& l) {
  p.pack_array(7);
  p.pack(l.pending);
  p.pack(l.free_slots);
  p.pack(l.backlog_ms);
  p.pack(l.version);
  p.pack(l.slots);
  p.pack(l.run_us);
  p.pack(l.failure_permille);
}

void pack(Packer& p, const MemberUpdate& u) {
  p.pack_array(6);
  pack_str(p, u.id);
  pack_str(p, u.address);
  p.pack(u.incarnation);
  p.pack(static_cast<uint8_t>(u.state));
  pack(p, u.load);
  pack_str(p, u.replica_id);
}

void pack_updates(Packer& p, const std::vector<MemberUpdate>& updates) {
  p.pack_array(static_cast<uint32_t>(updates.size()));
  for (const auto& u : updates) pack(p, u);
}

void pack_body(Packer& p, const Ping& m) {
  p.pack_array(5);
  p.pack(m.seq);
  pack_str(p, m.from_id);
  pack_str(p, m.from_address);
  pack_str(p, m.target_id);
  pack_updates(p, m.updates);
}
void pack_body(Packer& p, const PingReq& m) {
  p.pack_array(6);
  p.pack(m.seq);
  pack_str(p, m.from_id);
  pack_str(p, m.from_address);
  pack_str(p, m.target_id);
  pack_str(p, m.target_address);
  pack_updates(p, m.updates);
}
void pack_body(Packer& p, const Ack& m) {
  p.pack_array(5);
  p.pack(m.seq);
  pack_str(p, m.from_id);
  pack_str(p, m.from_address);
  p.pack(m.nack);
  pack_updates(p, m.updates);
}
void pack_body(Packer& p, const Sync& m) {
  p.pack_array(4);
  pack_str(p, m.from_id);
  pack_str(p, m.from_address);
  p.pack(m.reply);
  pack_updates(p, m.members);
}

void pack_body(Packer& p, const StealRequest& m) {
  p.pack_array(3);
  pack_str(p, m.thief_id);
  pack_str(p, m.thief_address);
  p.pack(m.want);
}
void pack_body(Packer& p, const StealGrant& m) {
  p.pack_array(3);
  pack_str(p, m.victim_id);
  pack_str(p, m.victim_address);
  p.pack_array(static_cast<uint32_t>(m.tasks.size()));
  for (const auto& t : m.tasks) {
    p.pack_array(t.inputs.empty() ? 6 : 7);
    pack_str(p, t.id);
    p.pack(t.attempt);
    pack_str(p, t.handler);
    pack_bin(p, t.payload);
    p.pack(t.timeout_ms);
    p.pack(t.partition);
    if (!t.inputs.empty()) pack_bin_list(p, t.inputs);
  }
}
// The partition, the time run (and the renewal's thief address) are appended
// fields: absent from older peers, read as partition 0, not run yet and no
// address.
void pack_body(Packer& p, const LeaseRenewal& m) {
  p.pack_array(3);
  pack_str(p, m.thief_id);
  p.pack_array(static_cast<uint32_t>(m.running.size()));
  for (const auto& r : m.running) {
    p.pack_array(4);
    pack_str(p, r.id);
    p.pack(r.attempt);
    p.pack(r.partition);
    p.pack(r.ran_ms);
  }
  pack_str(p, m.thief_address);
}
void pack_body(Packer& p, const StolenResult& m) {
  p.pack_array(7);
  pack_str(p, m.thief_id);
  pack_str(p, m.thief_address);
  pack_str(p, m.id);
  p.pack(m.attempt);
  p.pack(m.ok);
  pack_bin(p, m.output);
  p.pack(m.partition);
}
void pack_body(Packer& p, const StolenResultAck& m) {
  p.pack_array(4);
  pack_str(p, m.id);
  p.pack(m.attempt);
  p.pack(m.accepted);
  p.pack(m.partition);
}
void pack_body(Packer& p, const LeaderHints& m) {
  p.pack_array(2);
  pack_str(p, m.from_address);
  p.pack_array(static_cast<uint32_t>(m.partitions.size()));
  for (const auto& l : m.partitions) {
    p.pack_array(4);
    p.pack(l.partition);
    p.pack(l.leads);
    pack_str(p, l.leader_address);
    p.pack(l.term);
  }
}

// Routing (130-133). A Fanout nests a client request, a FanoutReply the
// answer to it: the message kind, then the body as encode_request /
// encode_reply write it.
void pack_body(Packer& p, const RouteSubmit& m) {
  p.pack_array(4);
  p.pack(m.route_id);
  pack_str(p, m.origin_address);
  p.pack(m.partition);
  pack_specs(p, m.tasks);
}
void pack_body(Packer& p, const RouteSubmitReply& m) {
  p.pack_array(4);
  p.pack(m.route_id);
  p.pack(static_cast<uint16_t>(m.code));
  pack_str(p, m.leader_address);
  pack_outcomes(p, m.outcomes);
}
void pack_body(Packer& p, const Fanout& m) {
  p.pack_array(4);
  p.pack(m.fanout_id);
  pack_str(p, m.origin_address);
  p.pack(static_cast<uint16_t>(request_kind(m.request)));
  pack_bin(p, encode_request(m.request));
}
void pack_body(Packer& p, const FanoutReply& m) {
  p.pack_array(5);
  p.pack(m.fanout_id);
  pack_str(p, m.from_id);
  pack_partitions(p, m.covered);
  p.pack(static_cast<uint16_t>(reply_kind(m.reply)));
  pack_bin(p, encode_reply(m.reply));
}

// Transactions (140-141).
void pack_body(Packer& p, const TxnRequest& m) {
  p.pack_array(m.cancel_job.empty() ? 9 : 10);
  p.pack(static_cast<uint8_t>(m.step));
  p.pack(m.handle);
  pack_str(p, m.from_address);
  pack_str(p, m.txn);
  p.pack(m.partition);
  p.pack(m.coordinator);
  p.pack(m.commit);
  pack_partitions(p, m.participants);
  pack_specs(p, m.tasks);
  if (!m.cancel_job.empty()) pack_str(p, m.cancel_job);
}
void pack_body(Packer& p, const TxnReply& m) {
  p.pack_array(8);
  p.pack(static_cast<uint8_t>(m.step));
  p.pack(m.handle);
  pack_str(p, m.txn);
  p.pack(m.partition);
  p.pack(static_cast<uint16_t>(m.code));
  pack_str(p, m.leader_address);
  p.pack(m.commit);
  pack_outcomes(p, m.outcomes);
}

TxnStep read_txn_step(Fields& f) {
  uint8_t step = f.unsigned_as<uint8_t>(UINT8_MAX);
  if (step < static_cast<uint8_t>(TxnStep::kPrepare) || step > static_cast<uint8_t>(TxnStep::kFence)) {
    fail(ErrorCode::kMalformed, "txn: unknown step " + std::to_string(step));
  }
  return static_cast<TxnStep>(step);
}

// A Raft message is [type, group, term, from, to, fields...]; types are fixed.
enum class RaftType : uint8_t {
  kVoteRequest = 1, kVoteResponse = 2, kAppendRequest = 3, kAppendResponse = 4,
  kHeartbeat = 5, kHeartbeatResponse = 6, kInstallSnapshot = 7, kTimeoutNow = 8, kSnapshotResponse = 9,
};

template <typename M>
void pack_raft_header(Packer& p, uint32_t fields, RaftType type, const M& m) {
  p.pack_array(5 + fields);
  p.pack(static_cast<uint8_t>(type));
  p.pack(m.group);
  p.pack(m.term);
  pack_str(p, m.from);
  pack_str(p, m.to);
}

void pack_raft(Packer& p, const VoteRequest& m) {
  pack_raft_header(p, 4, RaftType::kVoteRequest, m);
  p.pack(m.last_index);
  p.pack(m.last_term);
  p.pack(m.pre_vote);
  p.pack(m.transfer);
}
void pack_raft(Packer& p, const VoteResponse& m) {
  pack_raft_header(p, 2, RaftType::kVoteResponse, m);
  p.pack(m.pre_vote);
  p.pack(m.granted);
}
void pack_raft(Packer& p, const AppendRequest& m) {
  pack_raft_header(p, 4, RaftType::kAppendRequest, m);
  p.pack(m.prev_index);
  p.pack(m.prev_term);
  p.pack(m.commit);
  p.pack_array(static_cast<uint32_t>(m.entries.size()));
  for (const auto& e : m.entries) pack(p, e);
}
void pack_raft(Packer& p, const AppendResponse& m) {
  pack_raft_header(p, 5, RaftType::kAppendResponse, m);
  p.pack(m.success);
  p.pack(m.match_index);
  p.pack(m.reject_index);
  p.pack(m.conflict_term);
  p.pack(m.conflict_index);
}
void pack_raft(Packer& p, const Heartbeat& m) {
  pack_raft_header(p, 2, RaftType::kHeartbeat, m);
  p.pack(m.commit);
  p.pack(m.read_seq);
}
void pack_raft(Packer& p, const HeartbeatResponse& m) {
  pack_raft_header(p, 1, RaftType::kHeartbeatResponse, m);
  p.pack(m.read_seq);
}
void pack_raft(Packer& p, const InstallSnapshot& m) {
  pack_raft_header(p, m.learners.empty() ? 6 : 7, RaftType::kInstallSnapshot, m);
  p.pack(m.snapshot_index);
  p.pack(m.snapshot_term);
  pack_str_list(p, m.voters);
  pack_bin(p, m.data);
  p.pack(m.offset);
  p.pack(m.done);
  if (!m.learners.empty()) pack_str_list(p, m.learners);
}
void pack_raft(Packer& p, const SnapshotResponse& m) {
  pack_raft_header(p, 2, RaftType::kSnapshotResponse, m);
  p.pack(m.snapshot_index);
  p.pack(m.next_offset);
}
void pack_raft(Packer& p, const TimeoutNow& m) { pack_raft_header(p, 0, RaftType::kTimeoutNow, m); }

void pack_body(Packer& p, const RaftBatch& m) {
  p.pack_array(2);
  pack_str(p, m.from_node);
  p.pack_array(static_cast<uint32_t>(m.messages.size()));
  for (const auto& message : m.messages) std::visit([&](const auto& r) { pack_raft(p, r); }, message);
}

LoadDigest read_load(const msgpack::object& o) {
  Fields f(o, 4, "load");
  LoadDigest l;
  l.pending = f.u64();
  l.free_slots = f.unsigned_as<uint32_t>(UINT32_MAX);
  l.backlog_ms = f.u64();
  l.version = f.u64();
  // Appended: absent from older peers.
  if (f.has_more()) l.slots = f.unsigned_as<uint32_t>(UINT32_MAX);
  if (f.has_more()) l.run_us = f.u64();
  if (f.has_more()) l.failure_permille = f.unsigned_as<uint32_t>(1000);
  return l;
}

MemberState to_member_state(uint8_t v) {
  if (v >= kMemberStateCount) fail(ErrorCode::kMalformed, "unknown member state " + std::to_string(v));
  return static_cast<MemberState>(v);
}

std::vector<MemberUpdate> read_updates(Fields& f, size_t max_items) {
  const auto& list = f.array(max_items);
  std::vector<MemberUpdate> out;
  out.reserve(list.via.array.size);
  for (uint32_t i = 0; i < list.via.array.size; ++i) {
    Fields g(list.via.array.ptr[i], 5, "member_update");
    MemberUpdate u;
    u.id = g.bytes(limits::kMaxNameBytes);
    u.address = g.bytes(limits::kMaxAddressBytes);
    u.incarnation = g.u64();
    u.state = to_member_state(g.unsigned_as<uint8_t>(UINT8_MAX));
    u.load = read_load(g.next());
    if (g.has_more()) u.replica_id = g.bytes(limits::kMaxNameBytes);  // appended: absent from older peers
    out.push_back(std::move(u));
  }
  return out;
}

template <typename M>
M read_raft_header(Fields& f) {
  f.next();  // the type, already read
  M m;
  m.group = f.unsigned_as<uint32_t>(UINT32_MAX);
  m.term = f.u64();
  m.from = f.bytes(limits::kMaxNameBytes);
  m.to = f.bytes(limits::kMaxNameBytes);
  return m;
}

// The partitions one FanoutReply may speak for (a mesh has at most 65536).
constexpr size_t kMaxCoveredPartitions = 65536;

// What a Fanout may carry: reads, waits, cancels and retries by id, and lists, which
// every partition leader answers for its own partitions.
bool is_fanout_request_kind(uint16_t kind) {
  switch (static_cast<MessageKind>(kind)) {
    case MessageKind::kGetRequest:
    case MessageKind::kWaitRequest:
    case MessageKind::kCancelRequest:
    case MessageKind::kRetryRequest:
    case MessageKind::kListRequest:
      return true;
    default:
      return false;
  }
}

// The answers to those, or an error.
bool is_fanout_reply_kind(uint16_t kind) {
  switch (static_cast<MessageKind>(kind)) {
    case MessageKind::kErrorReply:
    case MessageKind::kGetReply:
    case MessageKind::kWaitReply:
    case MessageKind::kCancelReply:
    case MessageKind::kRetryReply:
    case MessageKind::kListReply:
      return true;
    default:
      return false;
  }
}

RaftMessage read_raft(const msgpack::object& o) {
  Fields type_only(o, 5, "raft");
  auto type = static_cast<RaftType>(type_only.unsigned_as<uint8_t>(UINT8_MAX));
  switch (type) {
    case RaftType::kVoteRequest: {
      Fields f(o, 9, "vote_request");
      auto m = read_raft_header<VoteRequest>(f);
      m.last_index = f.u64();
      m.last_term = f.u64();
      m.pre_vote = f.boolean();
      m.transfer = f.boolean();
      return m;
    }
    case RaftType::kVoteResponse: {
      Fields f(o, 7, "vote_response");
      auto m = read_raft_header<VoteResponse>(f);
      m.pre_vote = f.boolean();
      m.granted = f.boolean();
      return m;
    }
    case RaftType::kAppendRequest: {
      Fields f(o, 9, "append_request");
      auto m = read_raft_header<AppendRequest>(f);
      m.prev_index = f.u64();
      m.prev_term = f.u64();
      m.commit = f.u64();
      const auto& entries = f.array(limits::kMaxRaftEntries);
      for (uint32_t i = 0; i < entries.via.array.size; ++i) m.entries.push_back(read_entry(entries.via.array.ptr[i]));
      return m;
    }
    case RaftType::kAppendResponse: {
      Fields f(o, 10, "append_response");
      auto m = read_raft_header<AppendResponse>(f);
      m.success = f.boolean();
      m.match_index = f.u64();
      m.reject_index = f.u64();
      m.conflict_term = f.u64();
      m.conflict_index = f.u64();
      return m;
    }
    case RaftType::kHeartbeat: {
      Fields f(o, 7, "heartbeat");
      auto m = read_raft_header<Heartbeat>(f);
      m.commit = f.u64();
      m.read_seq = f.u64();
      return m;
    }
    case RaftType::kHeartbeatResponse: {
      Fields f(o, 6, "heartbeat_response");
      auto m = read_raft_header<HeartbeatResponse>(f);
      m.read_seq = f.u64();
      return m;
    }
    case RaftType::kInstallSnapshot: {
      Fields f(o, 9, "install_snapshot");
      auto m = read_raft_header<InstallSnapshot>(f);
      m.snapshot_index = f.u64();
      m.snapshot_term = f.u64();
      m.voters = f.string_list(limits::kMaxVoters, limits::kMaxNameBytes);
      m.data = f.bytes(limits::kMaxFrameBytes);
      if (f.has_more()) {  // appended: a whole snapshot in one message from older nodes
        m.offset = f.u64();
        m.done = f.boolean();
      }
      if (f.has_more()) m.learners = f.string_list(limits::kMaxVoters, limits::kMaxNameBytes);
      return m;
    }
    case RaftType::kSnapshotResponse: {
      Fields f(o, 7, "snapshot_response");
      auto m = read_raft_header<SnapshotResponse>(f);
      m.snapshot_index = f.u64();
      m.next_offset = f.u64();
      return m;
    }
    case RaftType::kTimeoutNow: {
      Fields f(o, 5, "timeout_now");
      return read_raft_header<TimeoutNow>(f);
    }
  }
  fail(ErrorCode::kMalformed, "unknown raft message type " + std::to_string(static_cast<int>(type)));
}

PeerMessage read_peer(MessageKind kind, const msgpack::object& o) {
  switch (kind) {
    case MessageKind::kPing: {
      Fields f(o, 5, "ping");
      Ping m;
      m.seq = f.u64();
      m.from_id = f.bytes(limits::kMaxNameBytes);
      m.from_address = f.bytes(limits::kMaxAddressBytes);
      m.target_id = f.bytes(limits::kMaxNameBytes);
      m.updates = read_updates(f, limits::kMaxGossipUpdates);
      return m;
    }
    case MessageKind::kPingReq: {
      Fields f(o, 6, "ping_req");
      PingReq m;
      m.seq = f.u64();
      m.from_id = f.bytes(limits::kMaxNameBytes);
      m.from_address = f.bytes(limits::kMaxAddressBytes);
      m.target_id = f.bytes(limits::kMaxNameBytes);
      m.target_address = f.bytes(limits::kMaxAddressBytes);
      m.updates = read_updates(f, limits::kMaxGossipUpdates);
      return m;
    }
    case MessageKind::kAck: {
      Fields f(o, 5, "ack");
      Ack m;
      m.seq = f.u64();
      m.from_id = f.bytes(limits::kMaxNameBytes);
      m.from_address = f.bytes(limits::kMaxAddressBytes);
      m.nack = f.boolean();
      m.updates = read_updates(f, limits::kMaxGossipUpdates);
      return m;
    }
    case MessageKind::kSync: {
      Fields f(o, 4, "sync");
      Sync m;
      m.from_id = f.bytes(limits::kMaxNameBytes);
      m.from_address = f.bytes(limits::kMaxAddressBytes);
      m.reply = f.boolean();
      m.members = read_updates(f, limits::kMaxMembers);
      return m;
    }
    case MessageKind::kStealRequest: {
      Fields f(o, 3, "steal_request");
      StealRequest m;
      m.thief_id = f.bytes(limits::kMaxNameBytes);
      m.thief_address = f.bytes(limits::kMaxAddressBytes);
      m.want = f.unsigned_as<uint32_t>(limits::kMaxStealBatch);
      return m;
    }
    case MessageKind::kStealGrant: {
      Fields f(o, 3, "steal_grant");
      StealGrant m;
      m.victim_id = f.bytes(limits::kMaxNameBytes);
      m.victim_address = f.bytes(limits::kMaxAddressBytes);
      const auto& tasks = f.array(limits::kMaxStealBatch);
      for (uint32_t i = 0; i < tasks.via.array.size; ++i) {
        Fields g(tasks.via.array.ptr[i], 5, "stolen_task");
        RunTask t;
        t.id = g.bytes(limits::kMaxIdBytes);
        t.attempt = g.unsigned_as<uint32_t>(UINT32_MAX);
        t.handler = g.bytes(limits::kMaxNameBytes);
        t.payload = g.bytes(limits::kMaxPayloadBytes);
        t.timeout_ms = g.u64();
        if (g.has_more()) t.partition = g.unsigned_as<uint32_t>(UINT32_MAX);  // appended: absent from older peers
        if (g.has_more()) t.inputs = read_inputs_list(g.array(limits::kMaxParents));  // appended: with parents
        m.tasks.push_back(std::move(t));
      }
      return m;
    }
    case MessageKind::kLeaseRenewal: {
      Fields f(o, 2, "lease_renewal");
      LeaseRenewal m;
      m.thief_id = f.bytes(limits::kMaxNameBytes);
      const auto& running = f.array(limits::kMaxBatchTasks);
      for (uint32_t i = 0; i < running.via.array.size; ++i) {
        Fields g(running.via.array.ptr[i], 2, "attempt_ref");
        AttemptRef r;
        r.id = g.bytes(limits::kMaxIdBytes);
        r.attempt = g.unsigned_as<uint32_t>(UINT32_MAX);
        if (g.has_more()) r.partition = g.unsigned_as<uint32_t>(UINT32_MAX);
        if (g.has_more()) r.ran_ms = g.u64();
        m.running.push_back(std::move(r));
      }
      if (f.has_more()) m.thief_address = f.bytes(limits::kMaxAddressBytes);
      return m;
    }
    case MessageKind::kStolenResult: {
      Fields f(o, 6, "stolen_result");
      StolenResult m;
      m.thief_id = f.bytes(limits::kMaxNameBytes);
      m.thief_address = f.bytes(limits::kMaxAddressBytes);
      m.id = f.bytes(limits::kMaxIdBytes);
      m.attempt = f.unsigned_as<uint32_t>(UINT32_MAX);
      m.ok = f.boolean();
      m.output = f.bytes(limits::kMaxPayloadBytes);
      if (f.has_more()) m.partition = f.unsigned_as<uint32_t>(UINT32_MAX);
      return m;
    }
    case MessageKind::kRaftBatch: {
      Fields f(o, 2, "raft_batch");
      RaftBatch m;
      m.from_node = f.bytes(limits::kMaxNameBytes);
      const auto& messages = f.array(limits::kMaxRaftMessages);
      for (uint32_t i = 0; i < messages.via.array.size; ++i) m.messages.push_back(read_raft(messages.via.array.ptr[i]));
      return m;
    }
    case MessageKind::kStolenResultAck: {
      Fields f(o, 3, "stolen_result_ack");
      StolenResultAck m;
      m.id = f.bytes(limits::kMaxIdBytes);
      m.attempt = f.unsigned_as<uint32_t>(UINT32_MAX);
      m.accepted = f.boolean();
      if (f.has_more()) m.partition = f.unsigned_as<uint32_t>(UINT32_MAX);
      return m;
    }
    case MessageKind::kLeaderHints: {
      Fields f(o, 2, "leader_hints");
      LeaderHints m;
      m.from_address = f.bytes(limits::kMaxAddressBytes);
      const auto& partitions = f.array(limits::kMaxBatchTasks);
      for (uint32_t i = 0; i < partitions.via.array.size; ++i) {
        Fields g(partitions.via.array.ptr[i], 4, "partition_leader");
        PartitionLeader l;
        l.partition = g.unsigned_as<uint32_t>(UINT32_MAX);
        l.leads = g.boolean();
        l.leader_address = g.bytes(limits::kMaxAddressBytes);
        l.term = g.u64();
        m.partitions.push_back(std::move(l));
      }
      return m;
    }
    case MessageKind::kRouteSubmit: {
      Fields f(o, 4, "route_submit");
      RouteSubmit m;
      m.route_id = f.u64();
      m.origin_address = f.bytes(limits::kMaxAddressBytes);
      m.partition = f.unsigned_as<uint32_t>(UINT32_MAX);
      m.tasks = read_specs(f.array(limits::kMaxBatchTasks));
      return m;
    }
    case MessageKind::kRouteSubmitReply: {
      Fields f(o, 4, "route_submit_reply");
      RouteSubmitReply m;
      m.route_id = f.u64();
      m.code = to_code(f.unsigned_as<uint16_t>(UINT16_MAX));
      m.leader_address = f.bytes(limits::kMaxAddressBytes);
      m.outcomes = read_submit_outcomes(f.array(limits::kMaxBatchTasks));
      return m;
    }
    case MessageKind::kFanout: {
      Fields f(o, 4, "fanout");
      Fanout m;
      m.fanout_id = f.u64();
      m.origin_address = f.bytes(limits::kMaxAddressBytes);
      uint16_t request = f.unsigned_as<uint16_t>(UINT16_MAX);
      if (!is_fanout_request_kind(request)) {
        fail(ErrorCode::kMalformed, "fanout: request kind " + std::to_string(request) + " cannot be fanned out");
      }
      auto decoded = decode_request(request, f.bytes(limits::kMaxFrameBytes));
      if (!decoded.ok()) fail(decoded.status().code(), "fanout: request: " + decoded.status().message());
      m.request = std::move(decoded).value();
      return m;
    }
    case MessageKind::kFanoutReply: {
      Fields f(o, 5, "fanout_reply");
      FanoutReply m;
      m.fanout_id = f.u64();
      m.from_id = f.bytes(limits::kMaxNameBytes);
      m.covered = read_partitions(f.array(kMaxCoveredPartitions));
      uint16_t reply = f.unsigned_as<uint16_t>(UINT16_MAX);
      if (!is_fanout_reply_kind(reply)) {
        fail(ErrorCode::kMalformed, "fanout_reply: reply kind " + std::to_string(reply) + " does not answer a fanout");
      }
      auto decoded = decode_reply(reply, f.bytes(limits::kMaxFrameBytes));
      if (!decoded.ok()) fail(decoded.status().code(), "fanout_reply: reply: " + decoded.status().message());
      m.reply = std::move(decoded).value();
      return m;
    }
    case MessageKind::kTxnRequest: {
      Fields f(o, 9, "txn_request");
      TxnRequest m;
      m.step = read_txn_step(f);
      m.handle = f.u64();
      m.from_address = f.bytes(limits::kMaxAddressBytes);
      m.txn = f.bytes(limits::kMaxIdBytes);
      m.partition = f.unsigned_as<uint32_t>(UINT32_MAX);
      m.coordinator = f.unsigned_as<uint32_t>(UINT32_MAX);
      m.commit = f.boolean();
      m.participants = read_partitions(f.array(limits::kMaxTxnParticipants));
      m.tasks = read_specs(f.array(limits::kMaxBatchTasks));
      if (f.has_more()) m.cancel_job = f.bytes(limits::kMaxIdBytes);  // appended
      return m;
    }
    case MessageKind::kTxnReply: {
      Fields f(o, 8, "txn_reply");
      TxnReply m;
      m.step = read_txn_step(f);
      m.handle = f.u64();
      m.txn = f.bytes(limits::kMaxIdBytes);
      m.partition = f.unsigned_as<uint32_t>(UINT32_MAX);
      m.code = to_code(f.unsigned_as<uint16_t>(UINT16_MAX));
      m.leader_address = f.bytes(limits::kMaxAddressBytes);
      m.commit = f.boolean();
      m.outcomes = read_submit_outcomes(f.array(limits::kMaxBatchTasks));
      return m;
    }
    default:
      fail(ErrorCode::kUnknownMessageType, "not a peer message kind: " + std::to_string(static_cast<int>(kind)));
  }
}

}  // namespace codec_detail

using namespace codec_detail;

MessageKind peer_kind(const PeerMessage& message) {
  static constexpr MessageKind kinds[] = {MessageKind::kPing,         MessageKind::kPingReq,
                                          MessageKind::kAck,          MessageKind::kSync,
                                          MessageKind::kStealRequest, MessageKind::kStealGrant,
                                          MessageKind::kLeaseRenewal, MessageKind::kStolenResult,
                                          MessageKind::kStolenResultAck, MessageKind::kRaftBatch,
                                          MessageKind::kRouteSubmit,  MessageKind::kRouteSubmitReply,
                                          MessageKind::kFanout,       MessageKind::kFanoutReply,
                                          MessageKind::kLeaderHints,  MessageKind::kTxnRequest,
                                          MessageKind::kTxnReply};
  static_assert(std::size(kinds) == std::variant_size_v<PeerMessage>);
  return kinds[message.index()];
}

std::string encode_peer(const PeerMessage& message) {
  return encode_with([&](Packer& p) { std::visit([&](const auto& m) { pack_body(p, m); }, message); });
}

Result<PeerMessage> decode_peer(uint16_t kind, std::string_view body) {
  if (!is_peer_kind(kind)) return Status(ErrorCode::kUnknownMessageType, "not a peer message kind " + std::to_string(kind));
  return parse<PeerMessage>(body, [kind](const msgpack::object& o) { return read_peer(static_cast<MessageKind>(kind), o); });
}

}  // namespace mesh
