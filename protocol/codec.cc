// Client messages, envelopes and task records.

#include "protocol/codec.h"
#include "protocol/codec_detail.h"

namespace mesh {
namespace codec_detail {

// The dependency fields and no_backup are appended, and written only when
// set: a task without them keeps the bytes it always had.
void pack(Packer& p, const TaskSpec& t) {
  bool dependent = !t.after.empty() || t.shard_count > 0 || t.no_backup;
  p.pack_array(t.no_backup ? 14 : dependent ? 13 : 10);
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
  if (!dependent) return;
  p.pack_array(static_cast<uint32_t>(t.after.size()));
  for (const auto& parent : t.after) {
    p.pack_array(3);
    pack_str(p, parent.id);
    pack_str(p, parent.key);
    p.pack(parent.in_job);
  }
  p.pack(t.shard_index);
  p.pack(t.shard_count);
  if (t.no_backup) p.pack(true);
}

void pack(Packer& p, const AttemptInfo& a) {
  p.pack_array(a.backup ? 7 : 6);
  p.pack(a.attempt);
  pack_str(p, a.runner);
  p.pack(a.started_ms);
  p.pack(a.ended_ms);
  p.pack(static_cast<uint8_t>(a.outcome));
  pack_str(p, a.error);
  if (a.backup) p.pack(true);  // appended, written only when set
}

void pack(Packer& p, const TaskRecord& r) {
  bool backup = r.backup.attempt != 0;
  p.pack_array(backup ? 18 : !r.inputs.empty() ? 17 : r.txn.empty() ? 15 : 16);
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
  p.pack(r.lost_attempts);
  if (!r.txn.empty() || !r.inputs.empty() || backup) pack_str(p, r.txn);
  if (r.inputs.empty() && !backup) return;
  p.pack_array(static_cast<uint32_t>(r.inputs.size()));
  for (const auto& [parent, text] : r.inputs) {
    p.pack_array(2);
    pack_str(p, parent);
    pack_bin(p, text);
  }
  if (!backup) return;
  p.pack_array(4);
  p.pack(r.backup.attempt);
  pack_str(p, r.backup.owner);
  p.pack(r.backup.deadline_ms);
  p.pack(r.backup.timeout_at_ms);
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

void pack(Packer& p, const SubmitOutcome& o) {
  p.pack_array(5);
  pack_str(p, o.id);
  p.pack(static_cast<uint16_t>(o.code));
  pack_str(p, o.message);
  p.pack(o.duplicate);
  p.pack(static_cast<uint8_t>(o.state));
}

// An atomic submit appends [atomic, txn]; a plain one keeps its old bytes.
void pack_body(Packer& p, const SubmitRequest& m) {
  p.pack_array(m.atomic ? 3 : 1);
  pack_specs(p, m.tasks);
  if (!m.atomic) return;
  p.pack(m.atomic);
  pack_str(p, m.txn);
}
void pack_body(Packer& p, const GetRequest& m) {
  p.pack_array(m.keys.empty() ? 1 : 2);
  pack_str_list(p, m.ids);
  if (!m.keys.empty()) pack_str_list(p, m.keys);
}
void pack_body(Packer& p, const WaitRequest& m) {
  p.pack_array(m.keys.empty() ? 3 : 4);
  pack_str_list(p, m.ids);
  p.pack(m.all);
  p.pack(m.timeout_ms);
  if (!m.keys.empty()) pack_str_list(p, m.keys);
}
void pack_body(Packer& p, const CancelRequest& m) {
  p.pack_array(m.job.empty() ? 1 : 2);
  pack_str_list(p, m.ids);
  if (!m.job.empty()) pack_str(p, m.job);
}
void pack_body(Packer& p, const RetryRequest& m) {
  p.pack_array(2);
  pack_str_list(p, m.ids);
  p.pack(m.all_failed);
}
void pack_body(Packer& p, const ListRequest& m) {
  p.pack_array(m.brief ? 6 : m.txn.empty() ? 4 : 5);
  p.pack(m.any_state);
  p.pack(static_cast<uint8_t>(m.state));
  p.pack(m.limit);
  pack_str(p, m.after_id);
  if (!m.txn.empty() || m.brief) pack_str(p, m.txn);
  if (m.brief) p.pack(m.brief);
}
void pack_body(Packer& p, const StatsRequest&) { p.pack_array(0); }

void pack_body(Packer& p, const ErrorReply& m) {
  p.pack_array(2);
  p.pack(static_cast<uint16_t>(m.code));
  pack_str(p, m.message);
}
void pack_body(Packer& p, const SubmitReply& m) {
  p.pack_array(m.txn.empty() ? 1 : 2);
  pack_outcomes(p, m.outcomes);
  if (!m.txn.empty()) pack_str(p, m.txn);  // appended: an atomic submit's transaction
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
// Cancel and retry answer alike: [[id, code, state], ...].
void pack_outcomes(Packer& p, const std::vector<CancelOutcome>& outcomes) {
  p.pack_array(1);
  p.pack_array(static_cast<uint32_t>(outcomes.size()));
  for (const auto& o : outcomes) {
    p.pack_array(3);
    pack_str(p, o.id);
    p.pack(static_cast<uint16_t>(o.code));
    p.pack(static_cast<uint8_t>(o.state));
  }
}
void pack_body(Packer& p, const CancelReply& m) { pack_outcomes(p, m.outcomes); }
void pack_body(Packer& p, const RetryReply& m) { pack_outcomes(p, m.outcomes); }
void pack_body(Packer& p, const ListReply& m) {
  p.pack_array(2);
  pack_records(p, m.records);
  p.pack(m.more);
}
// A map of counter name -> count, as stats and steals replies carry it.
void pack_counters(Packer& p, const std::map<std::string, uint64_t>& counters) {
  p.pack_map(static_cast<uint32_t>(counters.size()));
  for (const auto& [name, value] : counters) {
    pack_str(p, name);
    p.pack(value);
  }
}

void pack_body(Packer& p, const StatsReply& m) {
  p.pack_array(4);
  pack_str(p, m.node_id);
  pack_counters(p, m.counters);
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

void pack_body(Packer& p, const MembersRequest&) { p.pack_array(0); }
void pack_body(Packer& p, const PartitionsRequest&) { p.pack_array(0); }

void pack_body(Packer& p, const MembersReply& m) {
  p.pack_array(2);
  pack_str(p, m.node_id);
  p.pack_array(static_cast<uint32_t>(m.members.size()));
  for (const auto& member : m.members) {
    p.pack_array(7);
    pack_str(p, member.id);
    pack_str(p, member.address);
    p.pack(member.incarnation);
    p.pack(static_cast<uint8_t>(member.state));
    pack(p, member.load);
    p.pack(member.state_since_ms);
    pack_str(p, member.replica_id);
  }
}

void pack(Packer& p, const GroupInfo& g) {
  p.pack_array(9);
  p.pack(g.partition);
  pack_str(p, g.role);
  p.pack(g.term);
  pack_str(p, g.leader);
  p.pack(g.commit_index);
  p.pack(g.applied_index);
  p.pack(g.last_index);
  pack_str_list(p, g.voters);
  p.pack_array(static_cast<uint32_t>(g.lag.size()));
  for (const auto& l : g.lag) {
    p.pack_array(2);
    pack_str(p, l.replica_id);
    p.pack(l.behind);
  }
}

void pack_body(Packer& p, const PartitionsReply& m) {
  p.pack_array(7);
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
  p.pack_array(static_cast<uint32_t>(m.groups.size()));
  for (const auto& g : m.groups) pack(p, g);
}

void pack_body(Packer& p, const StealsRequest&) { p.pack_array(0); }
void pack_body(Packer& p, const TxnsRequest&) { p.pack_array(0); }
void pack_body(Packer& p, const DrainRequest&) { p.pack_array(0); }
void pack_body(Packer& p, const DrainReply& m) {
  p.pack_array(5);
  pack_str(p, m.node_id);
  p.pack(m.already_draining);
  p.pack(m.running);
  p.pack(m.partitions_led);
  p.pack(m.grace_ms);
}
void pack_body(Packer& p, const RemoveReplicaRequest& m) {
  p.pack_array(1);
  pack_str(p, m.replica_id);
}
void pack_body(Packer& p, const RemoveReplicaReply& m) {
  p.pack_array(2);
  pack_str(p, m.node_id);
  pack_partitions(p, m.partitions);
}
void pack_body(Packer& p, const EventsRequest& m) {
  p.pack_array(1);
  p.pack(m.after_seq);
}
void pack_body(Packer& p, const EventsReply& m) {
  p.pack_array(3);
  pack_str(p, m.node_id);
  p.pack_array(static_cast<uint32_t>(m.events.size()));
  for (const auto& e : m.events) {
    p.pack_array(5);
    p.pack(e.seq);
    p.pack(e.at_ms);
    pack_str(p, e.kind);
    pack_str(p, e.subject);
    pack_str(p, e.detail);
  }
  p.pack(m.first_kept_seq);
}
void pack_body(Packer& p, const TxnsReply& m) {
  p.pack_array(2);
  pack_str(p, m.node_id);
  p.pack_array(static_cast<uint32_t>(m.txns.size()));
  for (const auto& t : m.txns) {
    p.pack_array(5);
    pack_str(p, t.txn);
    pack_str(p, t.role);
    pack_str(p, t.state);
    p.pack(t.partition);
    p.pack(t.age_ms);
  }
}
void pack_body(Packer& p, const StealsReply& m) {
  p.pack_array(5);
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
  pack_counters(p, m.counters);
  p.pack_array(static_cast<uint32_t>(m.totals.size()));
  for (const auto& t : m.totals) {
    p.pack_array(5);
    pack_str(p, t.victim);
    pack_str(p, t.thief);
    p.pack(t.batches);
    p.pack(t.tasks);
    p.pack(t.last_at_ms);
  }
}

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
  if (!f.has_more()) return t;
  const auto& after = f.array(limits::kMaxParents);
  for (uint32_t i = 0; i < after.via.array.size; ++i) {
    Fields parent(after.via.array.ptr[i], 3, "parent");
    ParentRef ref;
    ref.id = parent.bytes(limits::kMaxIdBytes);
    ref.key = parent.bytes(limits::kMaxIdBytes);
    ref.in_job = parent.boolean();
    t.after.push_back(std::move(ref));
  }
  t.shard_index = f.unsigned_as<uint32_t>(limits::kMaxShards);
  t.shard_count = f.unsigned_as<uint32_t>(limits::kMaxShards);
  if (f.has_more()) t.no_backup = f.boolean();
  return t;
}

std::vector<std::string> read_inputs_list(const msgpack::object& array) {
  Fields items(array, 0, "inputs");
  std::vector<std::string> inputs;
  while (items.has_more()) inputs.push_back(items.bytes(limits::kMaxInputBytes));
  return inputs;
}

std::vector<TaskSpec> read_specs(const msgpack::object& array) {
  std::vector<TaskSpec> specs;
  specs.reserve(array.via.array.size);
  for (uint32_t i = 0; i < array.via.array.size; ++i) specs.push_back(read_spec(array.via.array.ptr[i]));
  return specs;
}

void pack_specs(Packer& p, const std::vector<TaskSpec>& specs) {
  p.pack_array(static_cast<uint32_t>(specs.size()));
  for (const auto& t : specs) pack(p, t);
}

void pack_partitions(Packer& p, const std::vector<uint32_t>& partitions) {
  p.pack_array(static_cast<uint32_t>(partitions.size()));
  for (uint32_t partition : partitions) p.pack(partition);
}

std::vector<uint32_t> read_partitions(const msgpack::object& array) {
  Fields items(array, 0, "partitions");
  std::vector<uint32_t> partitions;
  partitions.reserve(array.via.array.size);
  while (items.has_more()) partitions.push_back(items.unsigned_as<uint32_t>(UINT32_MAX));
  return partitions;
}

SubmitOutcome read_submit_outcome(const msgpack::object& o) {
  Fields f(o, 5, "submit_outcome");
  SubmitOutcome out;
  out.id = f.bytes(limits::kMaxIdBytes);
  out.code = to_code(f.unsigned_as<uint16_t>(UINT16_MAX));
  out.message = f.bytes(limits::kMaxErrorBytes);
  out.duplicate = f.boolean();
  out.state = to_state(f.unsigned_as<uint8_t>(UINT8_MAX));
  return out;
}

std::vector<SubmitOutcome> read_submit_outcomes(const msgpack::object& array) {
  std::vector<SubmitOutcome> outcomes;
  outcomes.reserve(array.via.array.size);
  for (uint32_t i = 0; i < array.via.array.size; ++i) outcomes.push_back(read_submit_outcome(array.via.array.ptr[i]));
  return outcomes;
}

void pack_outcomes(Packer& p, const std::vector<SubmitOutcome>& outcomes) {
  p.pack_array(static_cast<uint32_t>(outcomes.size()));
  for (const auto& o : outcomes) pack(p, o);
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
  if (f.has_more()) a.backup = f.boolean();
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
  if (f.has_more()) r.lost_attempts = f.unsigned_as<uint32_t>(UINT32_MAX);  // appended: absent from older records
  if (f.has_more()) r.txn = f.bytes(limits::kMaxIdBytes);                      // appended: set by transactions
  if (f.has_more()) {  // appended: the parents' results
    const auto& inputs = f.array(limits::kMaxParents);
    for (uint32_t i = 0; i < inputs.via.array.size; ++i) {
      Fields input(inputs.via.array.ptr[i], 2, "input");
      std::string parent = input.bytes(limits::kMaxIdBytes);
      r.inputs[std::move(parent)] = input.bytes(limits::kMaxInputBytes);
    }
  }
  if (f.has_more()) {  // appended: a backup attempt racing the lease
    Fields backup(f.next(), 4, "backup");
    r.backup.attempt = backup.unsigned_as<uint32_t>(UINT32_MAX);
    r.backup.owner = backup.bytes(limits::kMaxNameBytes);
    r.backup.deadline_ms = backup.u64();
    r.backup.timeout_at_ms = backup.u64();
  }
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

// The groups of one PartitionsReply: at most one per partition (a mesh has
// at most 65536), each with at most 64 voters and 64 followers' lag.
constexpr size_t kMaxGroups = 65536;
constexpr size_t kMaxGroupReplicas = 64;

GroupInfo read_group(const msgpack::object& o) {
  Fields f(o, 9, "group");
  GroupInfo g;
  g.partition = f.unsigned_as<uint32_t>(UINT32_MAX);
  g.role = f.bytes(limits::kMaxNameBytes);
  g.term = f.u64();
  g.leader = f.bytes(limits::kMaxNameBytes);
  g.commit_index = f.u64();
  g.applied_index = f.u64();
  g.last_index = f.u64();
  g.voters = f.string_list(kMaxGroupReplicas, limits::kMaxNameBytes);
  const auto& lag = f.array(kMaxGroupReplicas);
  for (uint32_t i = 0; i < lag.via.array.size; ++i) {
    Fields l(lag.via.array.ptr[i], 2, "follower_lag");
    FollowerLag entry;
    entry.replica_id = l.bytes(limits::kMaxNameBytes);
    entry.behind = l.u64();
    g.lag.push_back(std::move(entry));
  }
  return g;
}

std::string read_map_key(const msgpack::object& o) {
  if (o.type != msgpack::type::STR || o.via.str.size > limits::kMaxNameBytes * 2)
    fail(ErrorCode::kMalformed, "stats: bad key");
  return std::string(o.via.str.ptr, o.via.str.size);
}

std::map<std::string, uint64_t> read_counters(Fields& f, const char* what) {
  const auto& counters = f.map(4096);
  std::map<std::string, uint64_t> out;
  for (uint32_t i = 0; i < counters.via.map.size; ++i) {
    const auto& kv = counters.via.map.ptr[i];
    if (kv.val.type != msgpack::type::POSITIVE_INTEGER) fail(ErrorCode::kMalformed, std::string(what) + ": counter");
    out[read_map_key(kv.key)] = kv.val.via.u64;
  }
  return out;
}

// A read's keys: none, or one per id.
std::vector<std::string> read_keys(Fields& f, size_t ids, const char* what) {
  std::vector<std::string> keys = f.string_list(limits::kMaxBatchTasks, limits::kMaxIdBytes);
  if (!keys.empty() && keys.size() != ids) {
    fail(ErrorCode::kMalformed, std::string(what) + ": " + std::to_string(keys.size()) + " keys for " +
                                    std::to_string(ids) + " ids (none, or one per id)");
  }
  return keys;
}

Request read_request(MessageKind kind, const msgpack::object& o) {
  switch (kind) {
    case MessageKind::kSubmitRequest: {
      Fields f(o, 1, "submit");
      SubmitRequest m;
      m.tasks = read_specs(f.array(limits::kMaxBatchTasks));
      if (f.has_more()) m.atomic = f.boolean();  // appended
      if (f.has_more()) m.txn = f.bytes(limits::kMaxIdBytes);
      return m;
    }
    case MessageKind::kGetRequest: {
      Fields f(o, 1, "get");
      GetRequest m;
      m.ids = f.string_list(limits::kMaxBatchTasks, limits::kMaxIdBytes);
      if (f.has_more()) m.keys = read_keys(f, m.ids.size(), "get");  // appended
      return m;
    }
    case MessageKind::kWaitRequest: {
      Fields f(o, 3, "wait");
      WaitRequest m;
      m.ids = f.string_list(limits::kMaxBatchTasks, limits::kMaxIdBytes);
      m.all = f.boolean();
      m.timeout_ms = f.u64();
      if (f.has_more()) m.keys = read_keys(f, m.ids.size(), "wait");  // appended
      return m;
    }
    case MessageKind::kCancelRequest: {
      Fields f(o, 1, "cancel");
      CancelRequest m;
      m.ids = f.string_list(limits::kMaxBatchTasks, limits::kMaxIdBytes);
      if (f.has_more()) m.job = f.bytes(limits::kMaxIdBytes);  // appended
      return m;
    }
    case MessageKind::kRetryRequest: {
      Fields f(o, 2, "retry");
      RetryRequest m;
      m.ids = f.string_list(limits::kMaxBatchTasks, limits::kMaxIdBytes);
      m.all_failed = f.boolean();
      return m;
    }
    case MessageKind::kListRequest: {
      Fields f(o, 4, "list");
      ListRequest m;
      m.any_state = f.boolean();
      m.state = to_state(f.unsigned_as<uint8_t>(UINT8_MAX));
      m.limit = f.unsigned_as<uint32_t>(limits::kMaxListLimit);
      m.after_id = f.bytes(limits::kMaxIdBytes);
      if (f.has_more()) m.txn = f.bytes(limits::kMaxIdBytes);  // appended
      if (f.has_more()) m.brief = f.boolean();                 // appended
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
    case MessageKind::kTxnsRequest: {
      Fields f(o, 0, "txns");
      return TxnsRequest{};
    }
    case MessageKind::kEventsRequest: {
      Fields f(o, 1, "events");
      return EventsRequest{f.u64()};
    }
    case MessageKind::kDrainRequest: {
      Fields f(o, 0, "drain");
      return DrainRequest{};
    }
    case MessageKind::kRemoveReplicaRequest: {
      Fields f(o, 1, "remove_replica");
      return RemoveReplicaRequest{f.bytes(limits::kMaxNameBytes)};
    }
    default:
      fail(ErrorCode::kUnknownMessageType, "not a request kind: " + std::to_string(static_cast<int>(kind)));
  }
}

std::vector<CancelOutcome> read_outcomes(const msgpack::object& o, const char* what) {
  Fields f(o, 1, what);
  const auto& list = f.array(limits::kMaxBatchTasks);
  std::vector<CancelOutcome> outcomes;
  for (uint32_t i = 0; i < list.via.array.size; ++i) {
    Fields g(list.via.array.ptr[i], 3, "outcome");
    CancelOutcome out;
    out.id = g.bytes(limits::kMaxIdBytes);
    out.code = to_code(g.unsigned_as<uint16_t>(UINT16_MAX));
    out.state = to_state(g.unsigned_as<uint8_t>(UINT8_MAX));
    outcomes.push_back(std::move(out));
  }
  return outcomes;
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
      SubmitReply m;
      m.outcomes = read_submit_outcomes(f.array(limits::kMaxBatchTasks));
      if (f.has_more()) m.txn = f.bytes(limits::kMaxIdBytes);
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
    case MessageKind::kCancelReply:
      return CancelReply{read_outcomes(o, "cancel_reply")};
    case MessageKind::kRetryReply:
      return RetryReply{read_outcomes(o, "retry_reply")};
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
      m.counters = read_counters(f, "stats");
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
        if (g.has_more()) member.replica_id = g.bytes(limits::kMaxNameBytes);  // appended: absent from older nodes
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
      m.counters = read_counters(f, "steals");
      if (!f.has_more()) return m;  // appended: absent from older nodes
      const auto& totals = f.array(limits::kMaxListLimit);
      for (uint32_t i = 0; i < totals.via.array.size; ++i) {
        Fields g(totals.via.array.ptr[i], 5, "steal_total");
        StealTotal t;
        t.victim = g.bytes(limits::kMaxNameBytes);
        t.thief = g.bytes(limits::kMaxNameBytes);
        t.batches = g.u64();
        t.tasks = g.u64();
        t.last_at_ms = g.u64();
        m.totals.push_back(std::move(t));
      }
      return m;
    }
    case MessageKind::kEventsReply: {
      Fields f(o, 3, "events_reply");
      EventsReply m;
      m.node_id = f.bytes(limits::kMaxNameBytes);
      const auto& events = f.array(limits::kMaxListLimit);
      for (uint32_t i = 0; i < events.via.array.size; ++i) {
        Fields g(events.via.array.ptr[i], 5, "event");
        MeshEvent e;
        e.seq = g.u64();
        e.at_ms = g.u64();
        e.kind = g.bytes(limits::kMaxNameBytes);
        e.subject = g.bytes(limits::kMaxIdBytes);
        e.detail = g.bytes(limits::kMaxErrorBytes);
        m.events.push_back(std::move(e));
      }
      m.first_kept_seq = f.u64();
      return m;
    }
    case MessageKind::kDrainReply: {
      Fields f(o, 5, "drain_reply");
      DrainReply m;
      m.node_id = f.bytes(limits::kMaxNameBytes);
      m.already_draining = f.boolean();
      m.running = f.unsigned_as<uint32_t>(UINT32_MAX);
      m.partitions_led = f.unsigned_as<uint32_t>(UINT32_MAX);
      m.grace_ms = f.u64();
      return m;
    }
    case MessageKind::kRemoveReplicaReply: {
      Fields f(o, 2, "remove_replica_reply");
      RemoveReplicaReply m;
      m.node_id = f.bytes(limits::kMaxNameBytes);
      m.partitions = read_partitions(f.array(limits::kMaxListLimit));
      return m;
    }
    case MessageKind::kTxnsReply: {
      Fields f(o, 2, "txns_reply");
      TxnsReply m;
      m.node_id = f.bytes(limits::kMaxNameBytes);
      const auto& txns = f.array(limits::kMaxListLimit);
      for (uint32_t i = 0; i < txns.via.array.size; ++i) {
        Fields g(txns.via.array.ptr[i], 5, "txn_info");
        TxnInfo t;
        t.txn = g.bytes(limits::kMaxIdBytes);
        t.role = g.bytes(limits::kMaxNameBytes);
        t.state = g.bytes(limits::kMaxNameBytes);
        t.partition = g.unsigned_as<uint32_t>(UINT32_MAX);
        t.age_ms = g.u64();
        m.txns.push_back(std::move(t));
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
      if (f.has_more()) {  // appended: absent from older nodes
        const auto& groups = f.array(kMaxGroups);
        m.groups.reserve(groups.via.array.size);
        for (uint32_t i = 0; i < groups.via.array.size; ++i) m.groups.push_back(read_group(groups.via.array.ptr[i]));
      }
      return m;
    }
    default:
      fail(ErrorCode::kUnknownMessageType, "not a reply kind: " + std::to_string(static_cast<int>(kind)));
  }
}

}  // namespace codec_detail

using namespace codec_detail;

std::string encode_envelope(const Envelope& e) {
  return encode_with([&](Packer& p) {
    p.pack_array(e.mesh.empty() ? 4 : 5);
    p.pack(e.version);
    p.pack(e.kind);
    p.pack(e.request_id);
    pack_str(p, e.sender);
    if (!e.mesh.empty()) pack_str(p, e.mesh);
  });
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
    if (f.has_more()) e.mesh = f.bytes(limits::kMaxNameBytes);  // appended
    return e;
  });
}

MessageKind request_kind(const Request& request) {
  static constexpr MessageKind kinds[] = {MessageKind::kSubmitRequest,  MessageKind::kGetRequest,
                                          MessageKind::kWaitRequest,    MessageKind::kCancelRequest,
                                          MessageKind::kListRequest,    MessageKind::kStatsRequest,
                                          MessageKind::kMembersRequest, MessageKind::kPartitionsRequest,
                                          MessageKind::kStealsRequest,  MessageKind::kRetryRequest,
                                          MessageKind::kTxnsRequest,    MessageKind::kEventsRequest,
                                          MessageKind::kDrainRequest,   MessageKind::kRemoveReplicaRequest};
  static_assert(std::size(kinds) == std::variant_size_v<Request>);
  return kinds[request.index()];
}

MessageKind reply_kind(const Reply& reply) {
  static constexpr MessageKind kinds[] = {MessageKind::kErrorReply,  MessageKind::kSubmitReply,
                                          MessageKind::kGetReply,    MessageKind::kWaitReply,
                                          MessageKind::kCancelReply, MessageKind::kListReply,
                                          MessageKind::kStatsReply,  MessageKind::kMembersReply,
                                          MessageKind::kPartitionsReply, MessageKind::kStealsReply,
                                          MessageKind::kRetryReply,  MessageKind::kTxnsReply,
                                          MessageKind::kEventsReply, MessageKind::kDrainReply,
                                          MessageKind::kRemoveReplicaReply};
  static_assert(std::size(kinds) == std::variant_size_v<Reply>);
  return kinds[reply.index()];
}

std::string encode_request(const Request& request) {
  return encode_with([&](Packer& p) { std::visit([&](const auto& m) { pack_body(p, m); }, request); });
}
std::string encode_reply(const Reply& reply) {
  return encode_with([&](Packer& p) { std::visit([&](const auto& m) { pack_body(p, m); }, reply); });
}

Result<Request> decode_request(uint16_t kind, std::string_view body) {
  if (!is_known_kind(kind)) return Status(ErrorCode::kUnknownMessageType, "unknown message kind " + std::to_string(kind));
  return parse<Request>(body, [kind](const msgpack::object& o) { return read_request(static_cast<MessageKind>(kind), o); });
}

Result<Reply> decode_reply(uint16_t kind, std::string_view body) {
  if (!is_known_kind(kind)) return Status(ErrorCode::kUnknownMessageType, "unknown message kind " + std::to_string(kind));
  return parse<Reply>(body, [kind](const msgpack::object& o) { return read_reply(static_cast<MessageKind>(kind), o); });
}

std::string encode_record(const TaskRecord& record) {
  return encode_with([&](Packer& p) {
    pack(p, record);
  });
}

Result<TaskRecord> decode_record(std::string_view bytes) {
  return parse<TaskRecord>(bytes, [](const msgpack::object& o) { return read_record(o); });
}

}  // namespace mesh
