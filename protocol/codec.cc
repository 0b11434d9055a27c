#include "protocol/codec.h"

#include <msgpack.hpp>

#include <type_traits>

#include "protocol/limits.h"

namespace mesh {
namespace {

// Thrown only inside this file; every public function catches it.
struct DecodeError {
  ErrorCode code;
  std::string message;
};

[[noreturn]] void fail(ErrorCode code, std::string message) {
  throw DecodeError{code, std::move(message)};
}

using Packer = msgpack::packer<msgpack::sbuffer>;

// --- encoding --------------------------------------------------------------

void pack_str(Packer& p, std::string_view s) {
  p.pack_str(static_cast<uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}
void pack_bin(Packer& p, std::string_view s) {
  p.pack_bin(static_cast<uint32_t>(s.size()));
  p.pack_bin_body(s.data(), static_cast<uint32_t>(s.size()));
}
void pack_str_list(Packer& p, const std::vector<std::string>& items) {
  p.pack_array(static_cast<uint32_t>(items.size()));
  for (const auto& s : items) pack_str(p, s);
}

void pack(Packer& p, const TaskSpec& t) {
  p.pack_array(10);
  pack_str(p, t.id);
  pack_str(p, t.handler);
  pack_bin(p, t.payload);
  p.pack(t.priority);
  p.pack(t.max_attempts);
  p.pack(t.backoff_base_ms);
  p.pack(t.backoff_max_ms);
  p.pack(t.timeout_ms);
  pack_str(p, t.key);
  p.pack(t.stealable);
}

void pack(Packer& p, const AttemptInfo& a) {
  p.pack_array(6);
  p.pack(a.attempt);
  pack_str(p, a.runner);
  p.pack(a.started_ms);
  p.pack(a.ended_ms);
  p.pack(static_cast<uint8_t>(a.outcome));
  pack_str(p, a.error);
}

void pack(Packer& p, const TaskRecord& r) {
  p.pack_array(14);
  pack(p, r.spec);
  p.pack(r.partition);
  p.pack(static_cast<uint8_t>(r.state));
  p.pack(r.attempt);
  p.pack(r.failures);
  pack_str(p, r.lease_owner);
  p.pack(r.lease_deadline_ms);
  p.pack(r.timeout_at_ms);
  p.pack(r.not_before_ms);
  p.pack(r.submitted_ms);
  p.pack(r.finished_ms);
  pack_bin(p, r.result);
  pack_str(p, r.error);
  p.pack_array(static_cast<uint32_t>(r.attempts.size()));
  for (const auto& a : r.attempts) pack(p, a);
}

void pack_records(Packer& p, const std::vector<TaskRecord>& records) {
  p.pack_array(static_cast<uint32_t>(records.size()));
  for (const auto& r : records) pack(p, r);
}

void pack(Packer& p, const HistogramSummary& h) {
  p.pack_array(6);
  p.pack(h.count);
  p.pack(h.sum);
  p.pack(h.p50);
  p.pack(h.p90);
  p.pack(h.p99);
  p.pack(h.max);
}

void pack_body(Packer& p, const SubmitRequest& m) {
  p.pack_array(1);
  p.pack_array(static_cast<uint32_t>(m.tasks.size()));
  for (const auto& t : m.tasks) pack(p, t);
}
void pack_body(Packer& p, const GetRequest& m) {
  p.pack_array(1);
  pack_str_list(p, m.ids);
}
void pack_body(Packer& p, const WaitRequest& m) {
  p.pack_array(3);
  pack_str_list(p, m.ids);
  p.pack(m.all);
  p.pack(m.timeout_ms);
}
void pack_body(Packer& p, const CancelRequest& m) {
  p.pack_array(1);
  pack_str_list(p, m.ids);
}
void pack_body(Packer& p, const ListRequest& m) {
  p.pack_array(4);
  p.pack(m.any_state);
  p.pack(static_cast<uint8_t>(m.state));
  p.pack(m.limit);
  pack_str(p, m.after_id);
}
void pack_body(Packer& p, const StatsRequest&) { p.pack_array(0); }

void pack_body(Packer& p, const ErrorReply& m) {
  p.pack_array(2);
  p.pack(static_cast<uint16_t>(m.code));
  pack_str(p, m.message);
}
void pack_body(Packer& p, const SubmitReply& m) {
  p.pack_array(1);
  p.pack_array(static_cast<uint32_t>(m.outcomes.size()));
  for (const auto& o : m.outcomes) {
    p.pack_array(5);
    pack_str(p, o.id);
    p.pack(static_cast<uint16_t>(o.code));
    pack_str(p, o.message);
    p.pack(o.duplicate);
    p.pack(static_cast<uint8_t>(o.state));
  }
}
void pack_body(Packer& p, const GetReply& m) {
  p.pack_array(2);
  pack_records(p, m.records);
  pack_str_list(p, m.missing);
}
void pack_body(Packer& p, const WaitReply& m) {
  p.pack_array(4);
  p.pack(m.timed_out);
  pack_records(p, m.records);
  pack_str_list(p, m.missing);
  p.pack(m.unfinished);
}
void pack_body(Packer& p, const CancelReply& m) {
  p.pack_array(1);
  p.pack_array(static_cast<uint32_t>(m.outcomes.size()));
  for (const auto& o : m.outcomes) {
    p.pack_array(3);
    pack_str(p, o.id);
    p.pack(static_cast<uint16_t>(o.code));
    p.pack(static_cast<uint8_t>(o.state));
  }
}
void pack_body(Packer& p, const ListReply& m) {
  p.pack_array(2);
  pack_records(p, m.records);
  p.pack(m.more);
}
void pack_body(Packer& p, const StatsReply& m) {
  p.pack_array(4);
  pack_str(p, m.node_id);
  p.pack_map(static_cast<uint32_t>(m.counters.size()));
  for (const auto& [k, v] : m.counters) {
    pack_str(p, k);
    p.pack(v);
  }
  p.pack_map(static_cast<uint32_t>(m.gauges.size()));
  for (const auto& [k, v] : m.gauges) {
    pack_str(p, k);
    p.pack(v);
  }
  p.pack_map(static_cast<uint32_t>(m.histograms.size()));
  for (const auto& [k, v] : m.histograms) {
    pack_str(p, k);
    pack(p, v);
  }
}

void pack(Packer& p, const LoadDigest& l) {
  p.pack_array(4);
  p.pack(l.pending);
  p.pack(l.free_slots);
  p.pack(l.backlog_ms);
  p.pack(l.version);
}

void pack(Packer& p, const MemberUpdate& u) {
  p.pack_array(5);
  pack_str(p, u.id);
  pack_str(p, u.address);
  p.pack(u.incarnation);
  p.pack(static_cast<uint8_t>(u.state));
  pack(p, u.load);
}

void pack_updates(Packer& p, const std::vector<MemberUpdate>& updates) {
  p.pack_array(static_cast<uint32_t>(updates.size()));
  for (const auto& u : updates) pack(p, u);
}

void pack_body(Packer& p, const MembersRequest&) { p.pack_array(0); }
void pack_body(Packer& p, const PartitionsRequest&) { p.pack_array(0); }

void pack_body(Packer& p, const MembersReply& m) {
  p.pack_array(2);
  pack_str(p, m.node_id);
  p.pack_array(static_cast<uint32_t>(m.members.size()));
  for (const auto& member : m.members) {
    p.pack_array(6);
    pack_str(p, member.id);
    pack_str(p, member.address);
    p.pack(member.incarnation);
    p.pack(static_cast<uint8_t>(member.state));
    pack(p, member.load);
    p.pack(member.state_since_ms);
  }
}

void pack_body(Packer& p, const PartitionsReply& m) {
  p.pack_array(6);
  pack_str(p, m.node_id);
  p.pack(m.partitions);
  p.pack(m.replicas);
  p.pack(m.digest);
  p.pack_array(static_cast<uint32_t>(m.table.size()));
  for (const auto& entry : m.table) {
    p.pack_array(2);
    p.pack(entry.partition);
    pack_str_list(p, entry.replicas);
  }
  p.pack_array(static_cast<uint32_t>(m.shares.size()));
  for (const auto& share : m.shares) {
    p.pack_array(4);
    pack_str(p, share.node_id);
    p.pack(share.partitions_led);
    p.pack(share.replicas_held);
    p.pack(share.key_share_ppm);
  }
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

// A task op is [kind, fields...]; kind numbers are fixed like message kinds.
enum class OpKind : uint8_t { kSubmit = 1, kLease = 2, kRenew = 3, kComplete = 4, kFail = 5, kRelease = 6, kCancel = 7 };

void pack_op(Packer& p, const OpSubmit& o) {
  p.pack_array(4);
  p.pack(static_cast<uint8_t>(OpKind::kSubmit));
  pack(p, o.spec);
  p.pack(o.partition);
  p.pack(o.at_ms);
}
void pack_op(Packer& p, const OpLease& o) {
  p.pack_array(7);
  p.pack(static_cast<uint8_t>(OpKind::kLease));
  pack_str(p, o.id);
  p.pack(o.attempt);
  pack_str(p, o.owner);
  p.pack(o.at_ms);
  p.pack(o.lease_deadline_ms);
  p.pack(o.timeout_at_ms);
}
void pack_op(Packer& p, const OpRenew& o) {
  p.pack_array(4);
  p.pack(static_cast<uint8_t>(OpKind::kRenew));
  pack_str(p, o.id);
  p.pack(o.attempt);
  p.pack(o.lease_deadline_ms);
}
void pack_op(Packer& p, const OpComplete& o) {
  p.pack_array(5);
  p.pack(static_cast<uint8_t>(OpKind::kComplete));
  pack_str(p, o.id);
  p.pack(o.attempt);
  pack_bin(p, o.output);
  p.pack(o.at_ms);
}
void pack_op(Packer& p, const OpFail& o) {
  p.pack_array(7);
  p.pack(static_cast<uint8_t>(OpKind::kFail));
  pack_str(p, o.id);
  p.pack(o.attempt);
  p.pack(static_cast<uint8_t>(o.outcome));
  pack_str(p, o.error);
  p.pack(o.at_ms);
  p.pack(o.retry_at_ms);
}
void pack_op(Packer& p, const OpRelease& o) {
  p.pack_array(5);
  p.pack(static_cast<uint8_t>(OpKind::kRelease));
  pack_str(p, o.id);
  p.pack(o.attempt);
  pack_str(p, o.reason);
  p.pack(o.at_ms);
}
void pack_op(Packer& p, const OpCancel& o) {
  p.pack_array(3);
  p.pack(static_cast<uint8_t>(OpKind::kCancel));
  pack_str(p, o.id);
  p.pack(o.at_ms);
}

void pack_body(Packer& p, const StealsRequest&) { p.pack_array(0); }
void pack_body(Packer& p, const StealsReply& m) {
  p.pack_array(4);
  pack_str(p, m.node_id);
  p.pack(m.enabled);
  p.pack_array(static_cast<uint32_t>(m.recent.size()));
  for (const auto& e : m.recent) {
    p.pack_array(4);
    p.pack(e.at_ms);
    pack_str(p, e.victim);
    pack_str(p, e.thief);
    p.pack(e.tasks);
  }
  p.pack_map(static_cast<uint32_t>(m.counters.size()));
  for (const auto& [k, v] : m.counters) {
    pack_str(p, k);
    p.pack(v);
  }
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
    p.pack_array(5);
    pack_str(p, t.id);
    p.pack(t.attempt);
    pack_str(p, t.handler);
    pack_bin(p, t.payload);
    p.pack(t.timeout_ms);
  }
}
void pack_body(Packer& p, const LeaseRenewal& m) {
  p.pack_array(2);
  pack_str(p, m.thief_id);
  p.pack_array(static_cast<uint32_t>(m.running.size()));
  for (const auto& r : m.running) {
    p.pack_array(2);
    pack_str(p, r.id);
    p.pack(r.attempt);
  }
}
void pack_body(Packer& p, const StolenResult& m) {
  p.pack_array(6);
  pack_str(p, m.thief_id);
  pack_str(p, m.thief_address);
  pack_str(p, m.id);
  p.pack(m.attempt);
  p.pack(m.ok);
  pack_bin(p, m.output);
}
void pack_body(Packer& p, const StolenResultAck& m) {
  p.pack_array(3);
  pack_str(p, m.id);
  p.pack(m.attempt);
  p.pack(m.accepted);
}

// A Raft message is [type, group, term, from, to, fields...]; types are fixed.
enum class RaftType : uint8_t {
  kVoteRequest = 1, kVoteResponse = 2, kAppendRequest = 3, kAppendResponse = 4,
  kHeartbeat = 5, kHeartbeatResponse = 6, kInstallSnapshot = 7, kTimeoutNow = 8,
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

void pack(Packer& p, const LogEntry& e) {
  p.pack_array(5);
  p.pack(e.index);
  p.pack(e.term);
  p.pack(static_cast<uint8_t>(e.type));
  pack_bin(p, e.data);
  pack_str_list(p, e.voters);
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
  pack_raft_header(p, 4, RaftType::kInstallSnapshot, m);
  p.pack(m.snapshot_index);
  p.pack(m.snapshot_term);
  pack_str_list(p, m.voters);
  pack_bin(p, m.data);
}
void pack_raft(Packer& p, const TimeoutNow& m) { pack_raft_header(p, 0, RaftType::kTimeoutNow, m); }

void pack_body(Packer& p, const RaftBatch& m) {
  p.pack_array(2);
  pack_str(p, m.from_node);
  p.pack_array(static_cast<uint32_t>(m.messages.size()));
  for (const auto& message : m.messages) std::visit([&](const auto& r) { pack_raft(p, r); }, message);
}

template <typename Variant>
std::string encode_variant(const Variant& v) {
  msgpack::sbuffer buffer;
  Packer p(buffer);
  std::visit([&](const auto& m) { pack_body(p, m); }, v);
  return std::string(buffer.data(), buffer.size());
}

// --- decoding --------------------------------------------------------------

// Reads the fields of one msgpack array in order, checking every type.
class Fields {
 public:
  Fields(const msgpack::object& o, uint32_t min_fields, const char* what) : what_(what) {
    if (o.type != msgpack::type::ARRAY) fail(ErrorCode::kMalformed, std::string(what) + ": not an array");
    items_ = o.via.array.ptr;
    size_ = o.via.array.size;
    // Newer peers may append fields: extra ones are ignored.
    if (size_ < min_fields) fail(ErrorCode::kMalformed, std::string(what) + ": too few fields");
  }

  bool has_more() const { return pos_ < size_; }
  const msgpack::object& next() {
    if (pos_ >= size_) fail(ErrorCode::kMalformed, std::string(what_) + ": missing field");
    return items_[pos_++];
  }

  uint64_t u64() {
    const auto& o = next();
    if (o.type != msgpack::type::POSITIVE_INTEGER) bad("unsigned integer");
    return o.via.u64;
  }
  template <typename T>
  T unsigned_as(uint64_t max) {
    uint64_t v = u64();
    if (v > max) bad("value in range");
    return static_cast<T>(v);
  }
  int64_t i64() {
    const auto& o = next();
    if (o.type == msgpack::type::POSITIVE_INTEGER) {
      if (o.via.u64 > static_cast<uint64_t>(INT64_MAX)) bad("integer in range");
      return static_cast<int64_t>(o.via.u64);
    }
    if (o.type == msgpack::type::NEGATIVE_INTEGER) return o.via.i64;
    bad("integer");
  }
  bool boolean() {
    const auto& o = next();
    if (o.type != msgpack::type::BOOLEAN) bad("boolean");
    return o.via.boolean;
  }
  std::string bytes(size_t max) {
    const auto& o = next();
    std::string_view s;
    if (o.type == msgpack::type::STR) {
      s = {o.via.str.ptr, o.via.str.size};
    } else if (o.type == msgpack::type::BIN) {
      s = {o.via.bin.ptr, o.via.bin.size};
    } else {
      bad("string");
    }
    if (s.size() > max) fail(ErrorCode::kTooLarge, std::string(what_) + ": field over " + std::to_string(max) + " bytes");
    return std::string(s);
  }
  std::vector<std::string> string_list(size_t max_items, size_t max_bytes) {
    const auto& o = next();
    if (o.type != msgpack::type::ARRAY) bad("array");
    if (o.via.array.size > max_items) fail(ErrorCode::kTooLarge, std::string(what_) + ": too many items");
    std::vector<std::string> out;
    out.reserve(o.via.array.size);
    for (uint32_t i = 0; i < o.via.array.size; ++i) {
      const auto& s = o.via.array.ptr[i];
      if (s.type != msgpack::type::STR) bad("string item");
      if (s.via.str.size > max_bytes) fail(ErrorCode::kTooLarge, std::string(what_) + ": item too long");
      out.emplace_back(s.via.str.ptr, s.via.str.size);
    }
    return out;
  }
  // Returns the next field, which must be an array of at most max_items.
  const msgpack::object& array(size_t max_items) {
    const auto& o = next();
    if (o.type != msgpack::type::ARRAY) bad("array");
    if (o.via.array.size > max_items) fail(ErrorCode::kTooLarge, std::string(what_) + ": too many items");
    return o;
  }
  const msgpack::object& map(size_t max_items) {
    const auto& o = next();
    if (o.type != msgpack::type::MAP) bad("map");
    if (o.via.map.size > max_items) fail(ErrorCode::kTooLarge, std::string(what_) + ": too many items");
    return o;
  }

 private:
  [[noreturn]] void bad(const char* expected) {
    fail(ErrorCode::kMalformed, std::string(what_) + ": field " + std::to_string(pos_) + " is not a " + expected);
  }

  const char* what_;
  const msgpack::object* items_ = nullptr;
  uint32_t size_ = 0;
  uint32_t pos_ = 0;
};

TaskState to_state(uint8_t v) {
  if (v >= kTaskStateCount) fail(ErrorCode::kMalformed, "unknown task state " + std::to_string(v));
  return static_cast<TaskState>(v);
}

ErrorCode to_code(uint16_t v) { return static_cast<ErrorCode>(v); }

TaskSpec read_spec(const msgpack::object& o) {
  Fields f(o, 10, "task");
  TaskSpec t;
  t.id = f.bytes(limits::kMaxIdBytes);
  t.handler = f.bytes(limits::kMaxNameBytes);
  t.payload = f.bytes(limits::kMaxPayloadBytes);
  int64_t priority = f.i64();
  if (priority < INT32_MIN || priority > INT32_MAX) fail(ErrorCode::kInvalidArgument, "task: priority out of range");
  t.priority = static_cast<int32_t>(priority);
  t.max_attempts = f.unsigned_as<uint32_t>(UINT32_MAX);
  t.backoff_base_ms = f.u64();
  t.backoff_max_ms = f.u64();
  t.timeout_ms = f.u64();
  t.key = f.bytes(limits::kMaxIdBytes);
  t.stealable = f.boolean();
  return t;
}

AttemptInfo read_attempt(const msgpack::object& o) {
  Fields f(o, 6, "attempt");
  AttemptInfo a;
  a.attempt = f.unsigned_as<uint32_t>(UINT32_MAX);
  a.runner = f.bytes(limits::kMaxNameBytes);
  a.started_ms = f.u64();
  a.ended_ms = f.u64();
  uint8_t outcome = f.unsigned_as<uint8_t>(static_cast<uint8_t>(AttemptOutcome::kCancelled));
  a.outcome = static_cast<AttemptOutcome>(outcome);
  a.error = f.bytes(limits::kMaxErrorBytes);
  return a;
}

TaskRecord read_record(const msgpack::object& o) {
  Fields f(o, 14, "record");
  TaskRecord r;
  r.spec = read_spec(f.next());
  r.partition = f.unsigned_as<uint32_t>(UINT32_MAX);
  r.state = to_state(f.unsigned_as<uint8_t>(UINT8_MAX));
  r.attempt = f.unsigned_as<uint32_t>(UINT32_MAX);
  r.failures = f.unsigned_as<uint32_t>(UINT32_MAX);
  r.lease_owner = f.bytes(limits::kMaxNameBytes);
  r.lease_deadline_ms = f.u64();
  r.timeout_at_ms = f.u64();
  r.not_before_ms = f.u64();
  r.submitted_ms = f.u64();
  r.finished_ms = f.u64();
  r.result = f.bytes(limits::kMaxPayloadBytes);
  r.error = f.bytes(limits::kMaxErrorBytes);
  const auto& attempts = f.array(limits::kMaxAttempts * 4);
  for (uint32_t i = 0; i < attempts.via.array.size; ++i) r.attempts.push_back(read_attempt(attempts.via.array.ptr[i]));
  return r;
}

std::vector<TaskRecord> read_records(Fields& f) {
  const auto& list = f.array(limits::kMaxListLimit);
  std::vector<TaskRecord> out;
  out.reserve(list.via.array.size);
  for (uint32_t i = 0; i < list.via.array.size; ++i) out.push_back(read_record(list.via.array.ptr[i]));
  return out;
}

HistogramSummary read_histogram(const msgpack::object& o) {
  Fields f(o, 6, "histogram");
  HistogramSummary h;
  h.count = f.u64();
  h.sum = f.u64();
  h.p50 = f.u64();
  h.p90 = f.u64();
  h.p99 = f.u64();
  h.max = f.u64();
  return h;
}

std::string read_map_key(const msgpack::object& o) {
  if (o.type != msgpack::type::STR || o.via.str.size > limits::kMaxNameBytes * 2)
    fail(ErrorCode::kMalformed, "stats: bad key");
  return std::string(o.via.str.ptr, o.via.str.size);
}

LoadDigest read_load(const msgpack::object& o) {
  Fields f(o, 4, "load");
  LoadDigest l;
  l.pending = f.u64();
  l.free_slots = f.unsigned_as<uint32_t>(UINT32_MAX);
  l.backlog_ms = f.u64();
  l.version = f.u64();
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
    out.push_back(std::move(u));
  }
  return out;
}

TaskOp read_op(const msgpack::object& o) {
  Fields kind_only(o, 1, "op");
  auto kind = static_cast<OpKind>(kind_only.unsigned_as<uint8_t>(UINT8_MAX));
  switch (kind) {
    case OpKind::kSubmit: {
      Fields f(o, 4, "op_submit");
      f.next();
      OpSubmit op;
      op.spec = read_spec(f.next());
      op.partition = f.unsigned_as<uint32_t>(UINT32_MAX);
      op.at_ms = f.u64();
      return op;
    }
    case OpKind::kLease: {
      Fields f(o, 7, "op_lease");
      f.next();
      OpLease op;
      op.id = f.bytes(limits::kMaxIdBytes);
      op.attempt = f.unsigned_as<uint32_t>(UINT32_MAX);
      op.owner = f.bytes(limits::kMaxNameBytes);
      op.at_ms = f.u64();
      op.lease_deadline_ms = f.u64();
      op.timeout_at_ms = f.u64();
      return op;
    }
    case OpKind::kRenew: {
      Fields f(o, 4, "op_renew");
      f.next();
      OpRenew op;
      op.id = f.bytes(limits::kMaxIdBytes);
      op.attempt = f.unsigned_as<uint32_t>(UINT32_MAX);
      op.lease_deadline_ms = f.u64();
      return op;
    }
    case OpKind::kComplete: {
      Fields f(o, 5, "op_complete");
      f.next();
      OpComplete op;
      op.id = f.bytes(limits::kMaxIdBytes);
      op.attempt = f.unsigned_as<uint32_t>(UINT32_MAX);
      op.output = f.bytes(limits::kMaxPayloadBytes);
      op.at_ms = f.u64();
      return op;
    }
    case OpKind::kFail: {
      Fields f(o, 7, "op_fail");
      f.next();
      OpFail op;
      op.id = f.bytes(limits::kMaxIdBytes);
      op.attempt = f.unsigned_as<uint32_t>(UINT32_MAX);
      op.outcome = static_cast<AttemptOutcome>(f.unsigned_as<uint8_t>(static_cast<uint8_t>(AttemptOutcome::kCancelled)));
      op.error = f.bytes(limits::kMaxErrorBytes);
      op.at_ms = f.u64();
      op.retry_at_ms = f.u64();
      return op;
    }
    case OpKind::kRelease: {
      Fields f(o, 5, "op_release");
      f.next();
      OpRelease op;
      op.id = f.bytes(limits::kMaxIdBytes);
      op.attempt = f.unsigned_as<uint32_t>(UINT32_MAX);
      op.reason = f.bytes(limits::kMaxErrorBytes);
      op.at_ms = f.u64();
      return op;
    }
    case OpKind::kCancel: {
      Fields f(o, 3, "op_cancel");
      f.next();
      OpCancel op;
      op.id = f.bytes(limits::kMaxIdBytes);
      op.at_ms = f.u64();
      return op;
    }
  }
  fail(ErrorCode::kMalformed, "unknown op kind " + std::to_string(static_cast<int>(kind)));
}

LogEntry read_entry(const msgpack::object& o) {
  Fields f(o, 5, "log_entry");
  LogEntry e;
  e.index = f.u64();
  e.term = f.u64();
  uint8_t type = f.unsigned_as<uint8_t>(static_cast<uint8_t>(EntryType::kConfig));
  e.type = static_cast<EntryType>(type);
  e.data = f.bytes(limits::kMaxFrameBytes);
  e.voters = f.string_list(limits::kMaxVoters, limits::kMaxNameBytes);
  return e;
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
        m.running.push_back(std::move(r));
      }
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
      return m;
    }
    default:
      fail(ErrorCode::kUnknownMessageType, "not a peer message kind: " + std::to_string(static_cast<int>(kind)));
  }
}

Request read_request(MessageKind kind, const msgpack::object& o) {
  switch (kind) {
    case MessageKind::kSubmitRequest: {
      Fields f(o, 1, "submit");
      const auto& tasks = f.array(limits::kMaxBatchTasks);
      SubmitRequest m;
      m.tasks.reserve(tasks.via.array.size);
      for (uint32_t i = 0; i < tasks.via.array.size; ++i) m.tasks.push_back(read_spec(tasks.via.array.ptr[i]));
      return m;
    }
    case MessageKind::kGetRequest: {
      Fields f(o, 1, "get");
      return GetRequest{f.string_list(limits::kMaxBatchTasks, limits::kMaxIdBytes)};
    }
    case MessageKind::kWaitRequest: {
      Fields f(o, 3, "wait");
      WaitRequest m;
      m.ids = f.string_list(limits::kMaxBatchTasks, limits::kMaxIdBytes);
      m.all = f.boolean();
      m.timeout_ms = f.u64();
      return m;
    }
    case MessageKind::kCancelRequest: {
      Fields f(o, 1, "cancel");
      return CancelRequest{f.string_list(limits::kMaxBatchTasks, limits::kMaxIdBytes)};
    }
    case MessageKind::kListRequest: {
      Fields f(o, 4, "list");
      ListRequest m;
      m.any_state = f.boolean();
      m.state = to_state(f.unsigned_as<uint8_t>(UINT8_MAX));
      m.limit = f.unsigned_as<uint32_t>(limits::kMaxListLimit);
      m.after_id = f.bytes(limits::kMaxIdBytes);
      return m;
    }
    case MessageKind::kStatsRequest: {
      Fields f(o, 0, "stats");
      return StatsRequest{};
    }
    case MessageKind::kMembersRequest: {
      Fields f(o, 0, "members");
      return MembersRequest{};
    }
    case MessageKind::kPartitionsRequest: {
      Fields f(o, 0, "partitions");
      return PartitionsRequest{};
    }
    case MessageKind::kStealsRequest: {
      Fields f(o, 0, "steals");
      return StealsRequest{};
    }
    default:
      fail(ErrorCode::kUnknownMessageType, "not a request kind: " + std::to_string(static_cast<int>(kind)));
  }
}

Reply read_reply(MessageKind kind, const msgpack::object& o) {
  switch (kind) {
    case MessageKind::kErrorReply: {
      Fields f(o, 2, "error");
      ErrorReply m;
      m.code = to_code(f.unsigned_as<uint16_t>(UINT16_MAX));
      m.message = f.bytes(limits::kMaxErrorBytes);
      return m;
    }
    case MessageKind::kSubmitReply: {
      Fields f(o, 1, "submit_reply");
      const auto& list = f.array(limits::kMaxBatchTasks);
      SubmitReply m;
      for (uint32_t i = 0; i < list.via.array.size; ++i) {
        Fields g(list.via.array.ptr[i], 5, "submit_outcome");
        SubmitOutcome out;
        out.id = g.bytes(limits::kMaxIdBytes);
        out.code = to_code(g.unsigned_as<uint16_t>(UINT16_MAX));
        out.message = g.bytes(limits::kMaxErrorBytes);
        out.duplicate = g.boolean();
        out.state = to_state(g.unsigned_as<uint8_t>(UINT8_MAX));
        m.outcomes.push_back(std::move(out));
      }
      return m;
    }
    case MessageKind::kGetReply: {
      Fields f(o, 2, "get_reply");
      GetReply m;
      m.records = read_records(f);
      m.missing = f.string_list(limits::kMaxBatchTasks, limits::kMaxIdBytes);
      return m;
    }
    case MessageKind::kWaitReply: {
      Fields f(o, 4, "wait_reply");
      WaitReply m;
      m.timed_out = f.boolean();
      m.records = read_records(f);
      m.missing = f.string_list(limits::kMaxBatchTasks, limits::kMaxIdBytes);
      m.unfinished = f.u64();
      return m;
    }
    case MessageKind::kCancelReply: {
      Fields f(o, 1, "cancel_reply");
      const auto& list = f.array(limits::kMaxBatchTasks);
      CancelReply m;
      for (uint32_t i = 0; i < list.via.array.size; ++i) {
        Fields g(list.via.array.ptr[i], 3, "cancel_outcome");
        CancelOutcome out;
        out.id = g.bytes(limits::kMaxIdBytes);
        out.code = to_code(g.unsigned_as<uint16_t>(UINT16_MAX));
        out.state = to_state(g.unsigned_as<uint8_t>(UINT8_MAX));
        m.outcomes.push_back(std::move(out));
      }
      return m;
    }
    case MessageKind::kListReply: {
      Fields f(o, 2, "list_reply");
      ListReply m;
      m.records = read_records(f);
      m.more = f.boolean();
      return m;
    }
    case MessageKind::kStatsReply: {
      Fields f(o, 4, "stats_reply");
      StatsReply m;
      m.node_id = f.bytes(limits::kMaxNameBytes);
      const auto& counters = f.map(4096);
      for (uint32_t i = 0; i < counters.via.map.size; ++i) {
        const auto& kv = counters.via.map.ptr[i];
        if (kv.val.type != msgpack::type::POSITIVE_INTEGER) fail(ErrorCode::kMalformed, "stats: counter");
        m.counters[read_map_key(kv.key)] = kv.val.via.u64;
      }
      const auto& gauges = f.map(4096);
      for (uint32_t i = 0; i < gauges.via.map.size; ++i) {
        const auto& kv = gauges.via.map.ptr[i];
        int64_t v = 0;
        if (kv.val.type == msgpack::type::POSITIVE_INTEGER) {
          v = static_cast<int64_t>(kv.val.via.u64);
        } else if (kv.val.type == msgpack::type::NEGATIVE_INTEGER) {
          v = kv.val.via.i64;
        } else {
          fail(ErrorCode::kMalformed, "stats: gauge");
        }
        m.gauges[read_map_key(kv.key)] = v;
      }
      const auto& histograms = f.map(4096);
      for (uint32_t i = 0; i < histograms.via.map.size; ++i) {
        const auto& kv = histograms.via.map.ptr[i];
        m.histograms[read_map_key(kv.key)] = read_histogram(kv.val);
      }
      return m;
    }
    case MessageKind::kMembersReply: {
      Fields f(o, 2, "members_reply");
      MembersReply m;
      m.node_id = f.bytes(limits::kMaxNameBytes);
      const auto& list = f.array(limits::kMaxMembers);
      for (uint32_t i = 0; i < list.via.array.size; ++i) {
        Fields g(list.via.array.ptr[i], 6, "member");
        MemberInfo member;
        member.id = g.bytes(limits::kMaxNameBytes);
        member.address = g.bytes(limits::kMaxAddressBytes);
        member.incarnation = g.u64();
        member.state = to_member_state(g.unsigned_as<uint8_t>(UINT8_MAX));
        member.load = read_load(g.next());
        member.state_since_ms = g.u64();
        m.members.push_back(std::move(member));
      }
      return m;
    }
    case MessageKind::kStealsReply: {
      Fields f(o, 4, "steals_reply");
      StealsReply m;
      m.node_id = f.bytes(limits::kMaxNameBytes);
      m.enabled = f.boolean();
      const auto& recent = f.array(limits::kMaxListLimit);
      for (uint32_t i = 0; i < recent.via.array.size; ++i) {
        Fields g(recent.via.array.ptr[i], 4, "steal_event");
        StealEvent e;
        e.at_ms = g.u64();
        e.victim = g.bytes(limits::kMaxNameBytes);
        e.thief = g.bytes(limits::kMaxNameBytes);
        e.tasks = g.unsigned_as<uint32_t>(UINT32_MAX);
        m.recent.push_back(std::move(e));
      }
      const auto& counters = f.map(4096);
      for (uint32_t i = 0; i < counters.via.map.size; ++i) {
        const auto& kv = counters.via.map.ptr[i];
        if (kv.val.type != msgpack::type::POSITIVE_INTEGER) fail(ErrorCode::kMalformed, "steals: counter");
        m.counters[read_map_key(kv.key)] = kv.val.via.u64;
      }
      return m;
    }
    case MessageKind::kPartitionsReply: {
      Fields f(o, 6, "partitions_reply");
      PartitionsReply m;
      m.node_id = f.bytes(limits::kMaxNameBytes);
      m.partitions = f.unsigned_as<uint32_t>(UINT32_MAX);
      m.replicas = f.unsigned_as<uint32_t>(UINT32_MAX);
      m.digest = f.u64();
      const auto& table = f.array(limits::kMaxListLimit);
      for (uint32_t i = 0; i < table.via.array.size; ++i) {
        Fields g(table.via.array.ptr[i], 2, "partition");
        PartitionInfo entry;
        entry.partition = g.unsigned_as<uint32_t>(UINT32_MAX);
        entry.replicas = g.string_list(16, limits::kMaxNameBytes);
        m.table.push_back(std::move(entry));
      }
      const auto& shares = f.array(limits::kMaxMembers);
      for (uint32_t i = 0; i < shares.via.array.size; ++i) {
        Fields g(shares.via.array.ptr[i], 4, "share");
        NodeShare share;
        share.node_id = g.bytes(limits::kMaxNameBytes);
        share.partitions_led = g.unsigned_as<uint32_t>(UINT32_MAX);
        share.replicas_held = g.unsigned_as<uint32_t>(UINT32_MAX);
        share.key_share_ppm = g.unsigned_as<uint32_t>(UINT32_MAX);
        m.shares.push_back(std::move(share));
      }
      return m;
    }
    default:
      fail(ErrorCode::kUnknownMessageType, "not a reply kind: " + std::to_string(static_cast<int>(kind)));
  }
}

// Container limits for msgpack::unpack; the pre-pass below enforces the same.
constexpr size_t kUnpackMaxArray = limits::kMaxListLimit;
constexpr size_t kUnpackMaxMap = 4096;
constexpr size_t kUnpackMaxDepth = 8;

// Pre-pass over the raw bytes that builds nothing. msgpack::unpack allocates
// a container's element array as soon as it reads the header, before any
// element has arrived: a 5-byte frame declaring an array of 100000 cost
// 2.4 MB, eight nested ones about 33 MB, and only then did decoding fail with
// "insufficient bytes". Every element takes at least one byte, so a frame
// whose containers declare more elements in total than it has bytes cannot
// be complete; refusing it here bounds what unpack allocates by the frame
// size. Also refuses ext values, which the protocol never uses (unpack's
// ext limit of 0 reported them as kTooLarge rather than kMalformed).
class ShapeCheck : public msgpack::null_visitor {
 public:
  explicit ShapeCheck(size_t frame_bytes) : frame_bytes_(frame_bytes) {}

  bool visit_ext(const char*, uint32_t) { fail(ErrorCode::kMalformed, "msgpack ext values are not allowed"); }
  bool start_array(uint32_t n) {
    if (n > kUnpackMaxArray) throw msgpack::array_size_overflow("array size overflow");
    return enter(n);
  }
  bool start_map(uint32_t n) {
    if (n > kUnpackMaxMap) throw msgpack::map_size_overflow("map size overflow");
    return enter(size_t{2} * n);
  }
  bool end_array() { return leave(); }
  bool end_map() { return leave(); }
  void parse_error(size_t, size_t) { throw msgpack::parse_error("parse error"); }
  void insufficient_bytes(size_t, size_t) { throw msgpack::insufficient_bytes("insufficient bytes"); }

 private:
  bool enter(size_t elements) {
    // Same rule as unpack's depth limit, so its stack stays small too.
    if (depth_ >= kUnpackMaxDepth) throw msgpack::depth_size_overflow("depth size overflow");
    ++depth_;
    declared_ += elements;
    if (declared_ > frame_bytes_) {
      fail(ErrorCode::kMalformed, "containers declare " + std::to_string(declared_) + " elements in a frame of " +
                                      std::to_string(frame_bytes_) + " bytes");
    }
    return true;
  }
  bool leave() {
    --depth_;
    return true;
  }

  size_t frame_bytes_;
  size_t declared_ = 0;
  size_t depth_ = 0;
};

// Parses one complete msgpack value with limits; trailing bytes are an error.
template <typename T, typename Fn>
Result<T> parse(std::string_view bytes, Fn&& read) {
  if (bytes.size() > limits::kMaxFrameBytes) return Status(ErrorCode::kTooLarge, "frame too large");
  try {
    size_t offset = 0;
    ShapeCheck check(bytes.size());
    if (!msgpack::parse(bytes.data(), bytes.size(), offset, check)) {
      return Status(ErrorCode::kMalformed, "msgpack: parse error");
    }
    if (offset != bytes.size()) return Status(ErrorCode::kMalformed, "trailing bytes after message");
    // Container limits keep a hostile frame from allocating far more than its size.
    msgpack::unpack_limit limit(/*array=*/kUnpackMaxArray, /*map=*/kUnpackMaxMap,
                                /*str=*/limits::kMaxPayloadBytes, /*bin=*/limits::kMaxPayloadBytes,
                                /*ext=*/0, /*depth=*/kUnpackMaxDepth);
    offset = 0;
    msgpack::object_handle handle =
        msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, limit);
    if (offset != bytes.size()) return Status(ErrorCode::kMalformed, "trailing bytes after message");
    return read(handle.get());
  } catch (const DecodeError& e) {
    return Status(e.code, e.message);
  } catch (const msgpack::size_overflow& e) {
    return Status(ErrorCode::kTooLarge, std::string("msgpack limit: ") + e.what());
  } catch (const std::exception& e) {
    return Status(ErrorCode::kMalformed, std::string("msgpack: ") + e.what());
  }
}

}  // namespace

std::string encode_envelope(const Envelope& e) {
  msgpack::sbuffer buffer;
  Packer p(buffer);
  p.pack_array(4);
  p.pack(e.version);
  p.pack(e.kind);
  p.pack(e.request_id);
  pack_str(p, e.sender);
  return std::string(buffer.data(), buffer.size());
}

Result<Envelope> decode_envelope(std::string_view bytes) {
  if (bytes.size() > 1024) return Status(ErrorCode::kTooLarge, "envelope too large");
  return parse<Envelope>(bytes, [](const msgpack::object& o) {
    Fields f(o, 4, "envelope");
    Envelope e;
    e.version = f.unsigned_as<uint16_t>(UINT16_MAX);
    e.kind = f.unsigned_as<uint16_t>(UINT16_MAX);
    e.request_id = f.u64();
    e.sender = f.bytes(limits::kMaxNameBytes);
    return e;
  });
}

MessageKind request_kind(const Request& request) {
  static constexpr MessageKind kinds[] = {MessageKind::kSubmitRequest,  MessageKind::kGetRequest,
                                          MessageKind::kWaitRequest,    MessageKind::kCancelRequest,
                                          MessageKind::kListRequest,    MessageKind::kStatsRequest,
                                          MessageKind::kMembersRequest, MessageKind::kPartitionsRequest,
                                          MessageKind::kStealsRequest};
  static_assert(std::size(kinds) == std::variant_size_v<Request>);
  return kinds[request.index()];
}

MessageKind reply_kind(const Reply& reply) {
  static constexpr MessageKind kinds[] = {MessageKind::kErrorReply,  MessageKind::kSubmitReply,
                                          MessageKind::kGetReply,    MessageKind::kWaitReply,
                                          MessageKind::kCancelReply, MessageKind::kListReply,
                                          MessageKind::kStatsReply,  MessageKind::kMembersReply,
                                          MessageKind::kPartitionsReply, MessageKind::kStealsReply};
  static_assert(std::size(kinds) == std::variant_size_v<Reply>);
  return kinds[reply.index()];
}

std::string encode_request(const Request& request) { return encode_variant(request); }
std::string encode_reply(const Reply& reply) { return encode_variant(reply); }

Result<Request> decode_request(uint16_t kind, std::string_view body) {
  if (!is_known_kind(kind)) return Status(ErrorCode::kUnknownMessageType, "unknown message kind " + std::to_string(kind));
  return parse<Request>(body, [kind](const msgpack::object& o) { return read_request(static_cast<MessageKind>(kind), o); });
}

Result<Reply> decode_reply(uint16_t kind, std::string_view body) {
  if (!is_known_kind(kind)) return Status(ErrorCode::kUnknownMessageType, "unknown message kind " + std::to_string(kind));
  return parse<Reply>(body, [kind](const msgpack::object& o) { return read_reply(static_cast<MessageKind>(kind), o); });
}

MessageKind peer_kind(const PeerMessage& message) {
  static constexpr MessageKind kinds[] = {MessageKind::kPing,         MessageKind::kPingReq,
                                          MessageKind::kAck,          MessageKind::kSync,
                                          MessageKind::kStealRequest, MessageKind::kStealGrant,
                                          MessageKind::kLeaseRenewal, MessageKind::kStolenResult,
                                          MessageKind::kStolenResultAck, MessageKind::kRaftBatch};
  static_assert(std::size(kinds) == std::variant_size_v<PeerMessage>);
  return kinds[message.index()];
}

std::string encode_peer(const PeerMessage& message) { return encode_variant(message); }

Result<PeerMessage> decode_peer(uint16_t kind, std::string_view body) {
  if (!is_peer_kind(kind)) return Status(ErrorCode::kUnknownMessageType, "not a peer message kind " + std::to_string(kind));
  return parse<PeerMessage>(body, [kind](const msgpack::object& o) { return read_peer(static_cast<MessageKind>(kind), o); });
}

std::string encode_op(const TaskOp& op) {
  msgpack::sbuffer buffer;
  Packer p(buffer);
  std::visit([&](const auto& o) { pack_op(p, o); }, op);
  return std::string(buffer.data(), buffer.size());
}

Result<TaskOp> decode_op(std::string_view bytes) {
  return parse<TaskOp>(bytes, [](const msgpack::object& o) { return read_op(o); });
}

std::string encode_snapshot(const std::vector<TaskRecord>& records) {
  msgpack::sbuffer buffer;
  Packer p(buffer);
  pack_records(p, records);
  return std::string(buffer.data(), buffer.size());
}

Result<std::vector<TaskRecord>> decode_snapshot(std::string_view bytes) {
  return parse<std::vector<TaskRecord>>(bytes, [](const msgpack::object& o) {
    if (o.type != msgpack::type::ARRAY) fail(ErrorCode::kMalformed, "snapshot: not an array");
    std::vector<TaskRecord> out;
    out.reserve(o.via.array.size);
    for (uint32_t i = 0; i < o.via.array.size; ++i) out.push_back(read_record(o.via.array.ptr[i]));
    return out;
  });
}

template <typename T>
std::string encode_one(const T& value) {
  msgpack::sbuffer buffer;
  Packer p(buffer);
  pack(p, value);
  return std::string(buffer.data(), buffer.size());
}

void pack(Packer& p, const HardState& h) {
  p.pack_array(3);
  p.pack(h.term);
  pack_str(p, h.vote);
  p.pack(h.commit);
}

void pack(Packer& p, const SnapshotMeta& m) {
  p.pack_array(3);
  p.pack(m.index);
  p.pack(m.term);
  pack_str_list(p, m.voters);
}

std::string encode_log_entry(const LogEntry& entry) { return encode_one(entry); }
Result<LogEntry> decode_log_entry(std::string_view bytes) {
  return parse<LogEntry>(bytes, [](const msgpack::object& o) { return read_entry(o); });
}

std::string encode_hard_state(const HardState& state) { return encode_one(state); }
Result<HardState> decode_hard_state(std::string_view bytes) {
  return parse<HardState>(bytes, [](const msgpack::object& o) {
    Fields f(o, 3, "hard_state");
    HardState h;
    h.term = f.u64();
    h.vote = f.bytes(limits::kMaxNameBytes);
    h.commit = f.u64();
    return h;
  });
}

std::string encode_snapshot_meta(const SnapshotMeta& meta) { return encode_one(meta); }
Result<SnapshotMeta> decode_snapshot_meta(std::string_view bytes) {
  return parse<SnapshotMeta>(bytes, [](const msgpack::object& o) {
    Fields f(o, 3, "snapshot_meta");
    SnapshotMeta m;
    m.index = f.u64();
    m.term = f.u64();
    m.voters = f.string_list(limits::kMaxVoters, limits::kMaxNameBytes);
    return m;
  });
}

std::string encode_record(const TaskRecord& record) {
  msgpack::sbuffer buffer;
  Packer p(buffer);
  pack(p, record);
  return std::string(buffer.data(), buffer.size());
}

Result<TaskRecord> decode_record(std::string_view bytes) {
  return parse<TaskRecord>(bytes, [](const msgpack::object& o) { return read_record(o); });
}

}  // namespace mesh
