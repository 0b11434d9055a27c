// Log entries: task operations, partition snapshots, a Raft replica's
// persistent state.

#include "protocol/codec.h"
#include "protocol/codec_detail.h"

#include <functional>

namespace mesh {
namespace codec_detail {

// A task op is [kind, fields...]; kind numbers are fixed like message kinds.
enum class OpKind : uint8_t { kSubmit = 1, kLease = 2, kRenew = 3, kComplete = 4, kFail = 5, kRelease = 6, kCancel = 7,
                             kRetry = 8, kPurge = 9, kTxnPrepare = 10, kTxnResolve = 11, kTxnDecide = 12,
                             kTxnForget = 13, kParentsDone = 14, kBatch = 15 };

void pack_op(Packer& p, const OpSubmit& o) {
  p.pack_array(4);
  p.pack(static_cast<uint8_t>(OpKind::kSubmit));
  pack(p, o.spec);
  p.pack(o.partition);
  p.pack(o.at_ms);
}
void pack_op(Packer& p, const OpLease& o) {
  p.pack_array(o.backup ? 8 : 7);
  p.pack(static_cast<uint8_t>(OpKind::kLease));
  pack_str(p, o.id);
  p.pack(o.attempt);
  pack_str(p, o.owner);
  p.pack(o.at_ms);
  p.pack(o.lease_deadline_ms);
  p.pack(o.timeout_at_ms);
  if (o.backup) p.pack(true);  // appended, written only when set
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
  p.pack_array(6);
  p.pack(static_cast<uint8_t>(OpKind::kRelease));
  pack_str(p, o.id);
  p.pack(o.attempt);
  pack_str(p, o.reason);
  p.pack(o.at_ms);
  p.pack(o.max_lost_attempts);
}
void pack_op(Packer& p, const OpCancel& o) {
  p.pack_array(3);
  p.pack(static_cast<uint8_t>(OpKind::kCancel));
  pack_str(p, o.id);
  p.pack(o.at_ms);
}

void pack_op(Packer& p, const OpRetry& o) {
  p.pack_array(3);
  p.pack(static_cast<uint8_t>(OpKind::kRetry));
  pack_str(p, o.id);
  p.pack(o.at_ms);
}
void pack_op(Packer& p, const OpPurge& o) {
  p.pack_array(4);
  p.pack(static_cast<uint8_t>(OpKind::kPurge));
  p.pack(o.finished_before_ms);
  p.pack(o.failed_before_ms);
  p.pack(o.max_records);
}

void pack_op(Packer& p, const OpTxnPrepare& o) {
  p.pack_array(o.fence ? 8 : o.cancel_job.empty() ? 6 : 7);
  p.pack(static_cast<uint8_t>(OpKind::kTxnPrepare));
  pack_str(p, o.txn);
  p.pack(o.coordinator);
  p.pack(o.partition);
  pack_specs(p, o.tasks);
  p.pack(o.at_ms);
  if (!o.cancel_job.empty() || o.fence) pack_str(p, o.cancel_job);
  if (o.fence) p.pack(o.fence);
}
void pack_op(Packer& p, const OpTxnResolve& o) {
  p.pack_array(4);
  p.pack(static_cast<uint8_t>(OpKind::kTxnResolve));
  pack_str(p, o.txn);
  p.pack(o.commit);
  p.pack(o.at_ms);
}
void pack_op(Packer& p, const OpTxnDecide& o) {
  bool plain = o.mode == TxnDecideMode::kDecide;
  p.pack_array(plain ? 5 : 6);
  p.pack(static_cast<uint8_t>(OpKind::kTxnDecide));
  pack_str(p, o.txn);
  p.pack(o.commit);
  pack_partitions(p, o.participants);
  p.pack(o.at_ms);
  if (!plain) p.pack(static_cast<uint8_t>(o.mode));
}
void pack_op(Packer& p, const OpTxnForget& o) {
  p.pack_array(o.fence ? 3 : 2);
  p.pack(static_cast<uint8_t>(OpKind::kTxnForget));
  pack_str(p, o.txn);
  if (o.fence) p.pack(o.fence);
}

void pack_op(Packer& p, const OpParentsDone& o) {
  p.pack_array(3);
  p.pack(static_cast<uint8_t>(OpKind::kParentsDone));
  p.pack_array(static_cast<uint32_t>(o.outcomes.size()));
  for (const auto& outcome : o.outcomes) {
    p.pack_array(4);
    pack_str(p, outcome.child);
    pack_str(p, outcome.parent);
    p.pack(outcome.completed);
    pack_bin(p, outcome.text);
  }
  p.pack(o.at_ms);
}

// Learners are an appended field, written only when there are any: every
// entry without them keeps the bytes it always had.
void pack(Packer& p, const LogEntry& e) {
  p.pack_array(e.learners.empty() ? 5 : 6);
  p.pack(e.index);
  p.pack(e.term);
  p.pack(static_cast<uint8_t>(e.type));
  pack_bin(p, e.data);
  pack_str_list(p, e.voters);
  if (!e.learners.empty()) pack_str_list(p, e.learners);
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
      if (f.has_more()) op.backup = f.boolean();
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
      if (f.has_more()) op.max_lost_attempts = f.unsigned_as<uint32_t>(UINT32_MAX);  // appended
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
    case OpKind::kRetry: {
      Fields f(o, 3, "op_retry");
      f.next();
      OpRetry op;
      op.id = f.bytes(limits::kMaxIdBytes);
      op.at_ms = f.u64();
      return op;
    }
    case OpKind::kPurge: {
      Fields f(o, 4, "op_purge");
      f.next();
      OpPurge op;
      op.finished_before_ms = f.u64();
      op.failed_before_ms = f.u64();
      op.max_records = f.unsigned_as<uint32_t>(limits::kMaxPurgeRecords);
      return op;
    }
    case OpKind::kTxnPrepare: {
      Fields f(o, 6, "op_txn_prepare");
      f.next();
      OpTxnPrepare op;
      op.txn = f.bytes(limits::kMaxIdBytes);
      op.coordinator = f.unsigned_as<uint32_t>(UINT32_MAX);
      op.partition = f.unsigned_as<uint32_t>(UINT32_MAX);
      op.tasks = read_specs(f.array(limits::kMaxBatchTasks));
      op.at_ms = f.u64();
      if (f.has_more()) op.cancel_job = f.bytes(limits::kMaxIdBytes);  // appended
      if (f.has_more()) op.fence = f.boolean();                         // appended
      return op;
    }
    case OpKind::kTxnResolve: {
      Fields f(o, 4, "op_txn_resolve");
      f.next();
      OpTxnResolve op;
      op.txn = f.bytes(limits::kMaxIdBytes);
      op.commit = f.boolean();
      op.at_ms = f.u64();
      return op;
    }
    case OpKind::kTxnDecide: {
      Fields f(o, 5, "op_txn_decide");
      f.next();
      OpTxnDecide op;
      op.txn = f.bytes(limits::kMaxIdBytes);
      op.commit = f.boolean();
      op.participants = read_partitions(f.array(limits::kMaxTxnParticipants));
      op.at_ms = f.u64();
      if (f.has_more()) {  // appended
        uint8_t mode = f.unsigned_as<uint8_t>(static_cast<uint8_t>(TxnDecideMode::kRecovered));
        op.mode = static_cast<TxnDecideMode>(mode);
      }
      return op;
    }
    case OpKind::kTxnForget: {
      Fields f(o, 2, "op_txn_forget");
      f.next();
      OpTxnForget op;
      op.txn = f.bytes(limits::kMaxIdBytes);
      if (f.has_more()) op.fence = f.boolean();  // appended
      return op;
    }
    case OpKind::kParentsDone: {
      Fields f(o, 3, "op_parents_done");
      f.next();
      OpParentsDone op;
      const auto& outcomes = f.array(limits::kMaxBatchTasks);
      for (uint32_t i = 0; i < outcomes.via.array.size; ++i) {
        Fields g(outcomes.via.array.ptr[i], 4, "parent_outcome");
        ParentOutcome outcome;
        outcome.child = g.bytes(limits::kMaxIdBytes);
        outcome.parent = g.bytes(limits::kMaxIdBytes);
        outcome.completed = g.boolean();
        outcome.text = g.bytes(limits::kMaxInputBytes);
        op.outcomes.push_back(std::move(outcome));
      }
      op.at_ms = f.u64();
      return op;
    }
    case OpKind::kBatch:
      break;  // only at the top of an entry (decode_ops): a batch never nests
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
  if (f.has_more()) e.learners = f.string_list(limits::kMaxVoters, limits::kMaxNameBytes);
  return e;
}

void pack(Packer& p, const HardState& h) {
  p.pack_array(3);
  p.pack(h.term);
  pack_str(p, h.vote);
  p.pack(h.commit);
}

void pack(Packer& p, const SnapshotMeta& m) {
  p.pack_array(m.learners.empty() ? 3 : 4);
  p.pack(m.index);
  p.pack(m.term);
  pack_str_list(p, m.voters);
  if (!m.learners.empty()) pack_str_list(p, m.learners);
}

}  // namespace codec_detail

using namespace codec_detail;

std::string encode_op(const TaskOp& op) {
  return encode_with([&](Packer& p) {
    std::visit([&](const auto& o) { pack_op(p, o); }, op);
  });
}

Result<TaskOp> decode_op(std::string_view bytes) {
  return parse<TaskOp>(bytes, [](const msgpack::object& o) { return read_op(o); });
}

// A batch is [15, op, op, ...]: the ops' own bytes follow the header as
// they are, so a leader encodes each op once, when it proposes it.
std::string encode_op_batch(const std::vector<std::string>& encoded_ops) {
  if (encoded_ops.size() == 1) return encoded_ops.front();
  msgpack::sbuffer buffer;
  Packer p(buffer);
  p.pack_array(static_cast<uint32_t>(encoded_ops.size() + 1));
  p.pack(static_cast<uint8_t>(OpKind::kBatch));
  for (const auto& op : encoded_ops) buffer.write(op.data(), op.size());
  return std::string(buffer.data(), buffer.size());
}

std::string encode_ops(const std::vector<TaskOp>& ops) {
  std::vector<std::string> encoded;
  encoded.reserve(ops.size());
  for (const auto& op : ops) encoded.push_back(encode_op(op));
  return encode_op_batch(encoded);
}

Result<std::vector<TaskOp>> decode_ops(std::string_view bytes) {
  return parse<std::vector<TaskOp>>(bytes, [](const msgpack::object& o) {
    bool batch = o.type == msgpack::type::ARRAY && o.via.array.size > 0 &&
                 o.via.array.ptr[0].type == msgpack::type::POSITIVE_INTEGER &&
                 o.via.array.ptr[0].via.u64 == static_cast<uint64_t>(OpKind::kBatch);
    if (!batch) return std::vector<TaskOp>{read_op(o)};
    if (o.via.array.size < 3) fail(ErrorCode::kMalformed, "an op batch holds at least two ops");
    std::vector<TaskOp> ops;
    ops.reserve(o.via.array.size - 1);
    for (uint32_t i = 1; i < o.via.array.size; ++i) ops.push_back(read_op(o.via.array.ptr[i]));
    return ops;
  });
}

// A snapshot is a header value followed by one value per record, so it has
// no size limit of its own: each record decodes under the limits of one
// frame, as it did when it was a log entry. Format 2: [2, record count].
// Format 3, written when transactions are in flight: [3, record count,
// prepared count, decision count], the records, then one value per prepared
// transaction and per decision. (An older snapshot is one array of records;
// it still decodes.)
namespace codec_detail {

constexpr uint64_t kSnapshotRecordsOnly = 2;
constexpr uint64_t kSnapshotWithTransactions = 3;

void pack_prepared(Packer& p, const std::string& txn, const PreparedTxn& t) {
  p.pack_array(t.fenced ? 7 : t.cancels.empty() ? 5 : 6);
  pack_str(p, txn);
  p.pack(t.coordinator);
  p.pack(t.partition);
  p.pack(t.prepared_ms);
  pack_specs(p, t.tasks);
  if (!t.cancels.empty() || t.fenced) pack_str_list(p, t.cancels);
  if (t.fenced) p.pack(t.fenced);
}

void pack_decision(Packer& p, const std::string& txn, const TxnDecision& d) {
  p.pack_array(d.staged ? 5 : 4);
  pack_str(p, txn);
  p.pack(d.commit);
  pack_partitions(p, d.participants);
  p.pack(d.decided_ms);
  if (d.staged) p.pack(d.staged);
}

std::pair<std::string, PreparedTxn> read_prepared(const msgpack::object& o) {
  Fields f(o, 5, "snapshot prepared txn");
  std::string txn = f.bytes(limits::kMaxIdBytes);
  PreparedTxn t;
  t.coordinator = f.unsigned_as<uint32_t>(UINT32_MAX);
  t.partition = f.unsigned_as<uint32_t>(UINT32_MAX);
  t.prepared_ms = f.u64();
  t.tasks = read_specs(f.array(limits::kMaxBatchTasks));
  if (f.has_more()) t.cancels = f.string_list(limits::kMaxBatchTasks, limits::kMaxIdBytes);  // appended
  if (f.has_more()) t.fenced = f.boolean();                                                // appended
  return {std::move(txn), std::move(t)};
}

std::pair<std::string, TxnDecision> read_decision(const msgpack::object& o) {
  Fields f(o, 4, "snapshot txn decision");
  std::string txn = f.bytes(limits::kMaxIdBytes);
  TxnDecision d;
  d.commit = f.boolean();
  d.participants = read_partitions(f.array(limits::kMaxTxnParticipants));
  d.decided_ms = f.u64();
  if (f.has_more()) d.staged = f.boolean();  // appended
  return {std::move(txn), std::move(d)};
}

}  // namespace codec_detail

std::string encode_snapshot(const PartitionSnapshot& s) {
  std::vector<const TaskRecord*> records;
  records.reserve(s.records.size());
  for (const auto& record : s.records) records.push_back(&record);
  return encode_snapshot(records, s.prepared, s.decisions);
}

std::string encode_snapshot(const std::vector<const TaskRecord*>& records, const PreparedTxns& prepared,
                            const TxnDecisions& decisions) {
  bool with_transactions = !prepared.empty() || !decisions.empty();
  return encode_with([&](Packer& p) {
    p.pack_array(with_transactions ? 4 : 2);
    p.pack(with_transactions ? kSnapshotWithTransactions : kSnapshotRecordsOnly);
    p.pack(static_cast<uint64_t>(records.size()));
    if (with_transactions) {
      p.pack(static_cast<uint64_t>(prepared.size()));
      p.pack(static_cast<uint64_t>(decisions.size()));
    }
    for (const TaskRecord* record : records) pack(p, *record);
    for (const auto& [txn, t] : prepared) pack_prepared(p, txn, t);
    for (const auto& [txn, d] : decisions) pack_decision(p, txn, d);
  });
}

namespace {

struct SnapshotHeader {
  bool values_follow = false;  // formats 2 and 3: the counted values follow
  uint64_t records = 0;
  uint64_t prepared = 0;
  uint64_t decisions = 0;
  std::vector<TaskRecord> inline_records;  // the single-array format
};

bool is_count(const msgpack::object& o) { return o.type == msgpack::type::POSITIVE_INTEGER; }

// Reads `count` values of the snapshot from `offset` with `read`, each
// under the limits of one frame.
template <typename T, typename Read>
Status read_values(std::string_view bytes, size_t& offset, uint64_t count, const char* what, Read&& read,
                   const std::function<void(T)>& keep) {
  // Every value takes at least one byte: a count past the bytes left is a lie.
  if (count > bytes.size() - offset) return Status(ErrorCode::kMalformed, std::string("snapshot: more ") + what + " declared than bytes");
  for (uint64_t i = 0; i < count; ++i) {
    auto value = parse_at<T>(bytes, offset, read);
    if (!value.ok()) {
      return Status(value.status().code(),
                    std::string("snapshot ") + what + " " + std::to_string(i) + ": " + value.status().message());
    }
    keep(std::move(value).value());
  }
  return Status::Ok();
}

}  // namespace

Result<PartitionSnapshot> decode_snapshot(std::string_view bytes) {
  size_t offset = 0;
  auto header = parse_at<SnapshotHeader>(bytes, offset, [](const msgpack::object& o) {
    if (o.type != msgpack::type::ARRAY) fail(ErrorCode::kMalformed, "snapshot: not an array");
    SnapshotHeader h;
    const auto& items = o.via.array;
    bool counted = (items.size == 2 || items.size == 4) && is_count(items.ptr[0]);
    if (counted) {
      uint64_t format = items.ptr[0].via.u64;
      uint64_t expected_size = format == kSnapshotRecordsOnly ? 2 : format == kSnapshotWithTransactions ? 4 : 0;
      if (items.size != expected_size) fail(ErrorCode::kMalformed, "snapshot: unknown format");
      for (uint32_t i = 1; i < items.size; ++i) {
        if (!is_count(items.ptr[i])) fail(ErrorCode::kMalformed, "snapshot: bad count");
      }
      h.values_follow = true;
      h.records = items.ptr[1].via.u64;
      if (items.size == 4) {
        h.prepared = items.ptr[2].via.u64;
        h.decisions = items.ptr[3].via.u64;
      }
      return h;
    }
    for (uint32_t i = 0; i < items.size; ++i) h.inline_records.push_back(read_record(items.ptr[i]));
    return h;
  });
  if (!header.ok()) return header.status();
  PartitionSnapshot snapshot;
  if (!header.value().values_follow) {
    if (offset != bytes.size()) return Status(ErrorCode::kMalformed, "snapshot: trailing bytes");
    snapshot.records = std::move(header.value().inline_records);
    return snapshot;
  }
  if (header.value().records <= bytes.size() - offset) snapshot.records.reserve(header.value().records);
  Status s = read_values<TaskRecord>(bytes, offset, header.value().records, "record",
                                     [](const msgpack::object& o) { return read_record(o); },
                                     [&](TaskRecord r) { snapshot.records.push_back(std::move(r)); });
  if (s.ok()) {
    s = read_values<std::pair<std::string, PreparedTxn>>(bytes, offset, header.value().prepared, "prepared txn",
                                                         read_prepared,
                                                         [&](auto t) { snapshot.prepared.insert(std::move(t)); });
  }
  if (s.ok()) {
    s = read_values<std::pair<std::string, TxnDecision>>(bytes, offset, header.value().decisions, "txn decision",
                                                         read_decision,
                                                         [&](auto d) { snapshot.decisions.insert(std::move(d)); });
  }
  if (!s.ok()) return s;
  if (offset != bytes.size()) return Status(ErrorCode::kMalformed, "snapshot: trailing bytes");
  return snapshot;
}

std::string encode_log_entry(const LogEntry& entry) { return encode_with([&](Packer& p) { pack(p, entry); }); }
Result<LogEntry> decode_log_entry(std::string_view bytes) {
  return parse<LogEntry>(bytes, [](const msgpack::object& o) { return read_entry(o); });
}

std::string encode_hard_state(const HardState& state) { return encode_with([&](Packer& p) { pack(p, state); }); }
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

std::string encode_snapshot_meta(const SnapshotMeta& meta) { return encode_with([&](Packer& p) { pack(p, meta); }); }
Result<SnapshotMeta> decode_snapshot_meta(std::string_view bytes) {
  return parse<SnapshotMeta>(bytes, [](const msgpack::object& o) {
    Fields f(o, 3, "snapshot_meta");
    SnapshotMeta m;
    m.index = f.u64();
    m.term = f.u64();
    m.voters = f.string_list(limits::kMaxVoters, limits::kMaxNameBytes);
    if (f.has_more()) m.learners = f.string_list(limits::kMaxVoters, limits::kMaxNameBytes);
    return m;
  });
}

}  // namespace mesh
