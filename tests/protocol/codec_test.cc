// Codec tests: round trips of every message kind, the envelope and task
// records, and strict decoding of hostile or broken frames. Bad bodies are
// hand-crafted with msgpack directly, or derived from valid encodings by
// rewriting one node of the msgpack tree.
#ifndef MSGPACK_NO_BOOST
#define MSGPACK_NO_BOOST
#endif
#include <msgpack.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/codec.h"
#include "protocol/limits.h"

namespace mesh {
namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;
using Path = std::vector<uint32_t>;

// --- samples ----------------------------------------------------------------

TaskSpec sample_spec(const std::string& id) {
  TaskSpec t;
  t.id = id;
  t.handler = "echo";
  t.payload = std::string("\x00\x01\xff\x80payload", 11);  // binary-safe
  t.priority = -7;
  t.max_attempts = 5;
  t.backoff_base_ms = 250;
  t.backoff_max_ms = 10000;
  t.timeout_ms = 1234567;
  t.key = "partition-key";
  t.stealable = false;
  t.after = {{"parent-1", ""}, {"parent-2", "key-2"}};
  t.shard_index = 3;
  t.shard_count = limits::kMaxShards;
  t.no_backup = true;
  return t;
}

TaskRecord sample_record(const std::string& id) {
  TaskRecord r;
  r.spec = sample_spec(id);
  r.spec.priority = std::numeric_limits<int32_t>::max();
  r.partition = 77;
  r.state = TaskState::kFailed;
  r.attempt = 3;
  r.failures = 2;
  r.lease_owner = "node-2";
  r.lease_deadline_ms = std::numeric_limits<uint64_t>::max();  // full 64-bit width
  r.timeout_at_ms = 1700000000123;
  r.not_before_ms = 1700000000456;
  r.submitted_ms = 1700000000000;
  r.finished_ms = 1700000009999;
  r.result = std::string("\x00result\x00", 8);
  r.error = "handler exited with 3";
  r.attempts = {
      {1, "node-1", 10, 20, AttemptOutcome::kFailed, "boom"},
      {2, "node-2", 30, 40, AttemptOutcome::kLost, ""},
      {3, "node-2", 50, 60, AttemptOutcome::kTimedOut, "timed out after 10 ms", true},
  };
  r.lost_attempts = 1;
  r.txn = "txn-7";
  r.inputs = {{"parent-1", std::string("out\x00put", 7)}, {"parent-2", ""}};
  r.backup = {4, "node-3", std::numeric_limits<uint64_t>::max(), 1700000000789};
  return r;
}

// A leader's group (with its followers' lag) and a follower's.
std::vector<GroupInfo> sample_groups() {
  return {{0, "leader", 7, "n1#2", 41, 40, 42, {"n1#2", "n2#5", "n3#1"}, {{"n2#5", 0}, {"n3#1", 3}}},
          {1, "follower", std::numeric_limits<uint64_t>::max(), "", 0, 0, 0, {"n2#5"}, {}}};
}

StatsReply sample_stats() {
  StatsReply m;
  m.node_id = "node-1";
  m.counters = {{"tasks_submitted", 12}, {"big", std::numeric_limits<uint64_t>::max()}};
  m.gauges = {{"queue_depth", 3}, {"negative", std::numeric_limits<int64_t>::min()}};
  m.histograms = {{"run_ms", {10, 200, 15, 30, 90, 120}}, {"wait_ms", {0, 0, 0, 0, 0, 0}}};
  return m;
}

std::vector<Request> sample_requests() {
  TaskSpec defaults;  // default fields, empty id (node assigns one)
  defaults.handler = "noop";
  return {
      SubmitRequest{{sample_spec("a"), defaults}, true, "txn-1"},  // atomic: every appended field
      GetRequest{{"a", "b", ""}, {"key-a", "", ""}},
      WaitRequest{{"a", "c"}, true, 45000, {"", "key-c"}},
      CancelRequest{{"x", "y"}, "job-7"},
      ListRequest{false, TaskState::kCompleted, limits::kMaxListLimit, "after-this", "txn-7", true},
      StatsRequest{},
      MembersRequest{},
      PartitionsRequest{},
      StealsRequest{},
      RetryRequest{{"f1", "f2"}, true},
      TxnsRequest{},
      EventsRequest{41},
      DrainRequest{},
      RemoveReplicaRequest{"n3#0"},
  };
}

std::vector<Reply> sample_replies() {
  return {
      ErrorReply{ErrorCode::kOverloaded, "queue full: retry later"},
      SubmitReply{{{"a", ErrorCode::kOk, "", true, TaskState::kLeased},
                   {"b", ErrorCode::kUnknownHandler, "unknown handler 'x'", false, TaskState::kPending}},
                  "txn-1"},
      GetReply{{sample_record("r1"), sample_record("r2")}, {"gone"}},
      WaitReply{true, {sample_record("w1")}, {"m1", "m2"}, 42},
      CancelReply{{{"a", ErrorCode::kOk, TaskState::kCancelled},
                   {"b", ErrorCode::kAlreadyTerminal, TaskState::kCompleted}}},
      ListReply{{sample_record("l1")}, true},
      sample_stats(),
      MembersReply{"n1",
                   {{"n1", "tcp://10.0.0.1:7700", 3, MemberState::kAlive, {5, 2, 1200, 9}, 100, "n1#2"},
                    {"n2", "tcp://10.0.0.2:7700", 0, MemberState::kDead, {}, 200, ""}}},
      PartitionsReply{"n1", 2, 2, 0xfeedfacecafebeefull, {{0, {"n1", "n2"}}, {1, {"n2", "n1"}}},
                      {{"n1", 1, 2, 500000}, {"n2", 1, 2, 500000}}, sample_groups()},
      StealsReply{"n1",
                  true,
                  {{100, "n1", "n2", 4}, {250, "n3", "n1", 1}},
                  {{"tasks_lent", 4}, {"tasks_stolen", 1}},
                  {{"n1", "n2", 1, 4, 100}, {"n3", "n1", 1, 1, 250}}},
      RetryReply{{{"f1", ErrorCode::kOk, TaskState::kPending}, {"c1", ErrorCode::kConflict, TaskState::kCompleted}}},
      TxnsReply{"n1", {{"x-1", "participant", "prepared", 17, 5200}, {"x-2", "coordinator", "committed", 3, 40}}},
      EventsReply{"n1", {{42, 1000, "member_dead", "n3", "after 2100 ms suspect"}, {43, 1010, "leader_gained", "partition 7", "term 4"}}, 3},
      DrainReply{"n1", false, 2, 5, 10000},
      RemoveReplicaReply{"n1", {4, 9}},
  };
}

// The routing messages (130-133, 140-141), with every kind a Fanout may carry and
// the answers to them.
std::vector<PeerMessage> sample_routing_messages() {
  TaskSpec defaults;
  defaults.handler = "noop";
  return {
      RouteSubmit{41, "tcp://10.0.0.1:7700", 17, {sample_spec("a"), defaults}},
      RouteSubmit{42, "tcp://10.0.0.1:7700", 0, {}},
      RouteSubmitReply{41, ErrorCode::kOk, "",
                       {{"a", ErrorCode::kOk, "", true, TaskState::kLeased},
                        {"b", ErrorCode::kUnknownHandler, "unknown handler 'x'", false, TaskState::kPending}}},
      RouteSubmitReply{42, ErrorCode::kNotLeader, "tcp://10.0.0.3:7700", {}},
      Fanout{7, "tcp://10.0.0.1:7700", GetRequest{{"a", "b"}}},
      Fanout{8, "tcp://10.0.0.1:7700", WaitRequest{{"a"}, true, 45000}},
      Fanout{9, "tcp://10.0.0.1:7700", CancelRequest{{"x", "y"}}},
      Fanout{10, "tcp://10.0.0.1:7700", ListRequest{false, TaskState::kCompleted, 500, "after-this"}},
      FanoutReply{7, "n2", {0, 3, 65535}, GetReply{{sample_record("r1")}, {"gone"}}},
      FanoutReply{8, "n2", {1}, WaitReply{true, {sample_record("w1")}, {}, 4}},
      FanoutReply{9, "n3", {2, 4}, CancelReply{{{"x", ErrorCode::kOk, TaskState::kCancelled}}}},
      FanoutReply{10, "n3", {2, 4}, ListReply{{sample_record("l1")}, true}},
      FanoutReply{11, "n4", {}, ErrorReply{ErrorCode::kShuttingDown, "draining"}},
      TxnRequest{TxnStep::kPrepare, 5, "tcp://10.0.0.1:7700", "txn-1", 17, 3, false, {}, {sample_spec("a"), defaults},
                 "job-7"},
      TxnRequest{TxnStep::kDecide, 6, "tcp://10.0.0.1:7700", "txn-1", 3, 3, true, {3, 17, 65535}, {}, "job-7"},
      TxnReply{TxnStep::kPrepare, 5, "txn-1", 17, ErrorCode::kOk, "", false,
               {{"a", ErrorCode::kConflict, "task a exists", false, TaskState::kPending}}},
      TxnReply{TxnStep::kResolve, 7, "txn-1", 17, ErrorCode::kNotLeader, "tcp://10.0.0.3:7700", true, {}},
  };
}

std::vector<PeerMessage> sample_peer_messages() {
  std::vector<MemberUpdate> updates = {
      {"n2", "tcp://10.0.0.2:7700", 4, MemberState::kSuspect, {1, 0, 50, 3}, "n2#3"},
      {"n3", "tcp://10.0.0.3:7700", 0, MemberState::kLeft, {}, ""}};
  std::vector<PeerMessage> out = {
      Ping{7, "n1", "tcp://10.0.0.1:7700", "n2", updates},
      PingReq{8, "n1", "tcp://10.0.0.1:7700", "n3", "tcp://10.0.0.3:7700", {}},
      Ack{7, "n2", "tcp://10.0.0.2:7700", true, updates},
      Sync{"n1", "tcp://10.0.0.1:7700", true, updates},
      StealRequest{"n2", "tcp://10.0.0.2:7700", 4},
      StealGrant{"n1", "tcp://10.0.0.1:7700",
                 {{"t1", 2, "sleep", std::string("5\x00", 2), 1000, 12}, {"t2", 1, "noop", "", 5, 0}}},
      StealGrant{"n1", "tcp://10.0.0.1:7700", {}},
      LeaseRenewal{"n2", {{"t1", 2, 12, 4500}, {"t2", 1, 0, 0}}, "tcp://10.0.0.2:7700"},
      StolenResult{"n2", "tcp://10.0.0.2:7700", "t1", 2, true, std::string("out\x00", 4), 12},
      StolenResultAck{"t1", 2, false, 12},
      LeaderHints{"tcp://10.0.0.1:7700", {{12, false, "tcp://10.0.0.3:7700", 7}, {3, true, "", 9}}},
      RaftBatch{"n1",
                {VoteRequest{7, 3, "n1", "n2", 10, 2, true, false},
                 VoteResponse{7, 3, "n2", "n1", true, true},
                 AppendRequest{7, 3, "n1", "n2", 9, 2, 8,
                               {LogEntry{10, 3, EntryType::kNoop, "", {}},
                                LogEntry{11, 3, EntryType::kNormal, std::string("op\x00", 3), {}},
                                LogEntry{12, 3, EntryType::kConfig, "", {"n1", "n2", "n3"}},
                                LogEntry{13, 3, EntryType::kConfig, "", {"n1", "n2"}, {"n4"}}}},
                 AppendResponse{7, 3, "n2", "n1", false, 0, 9, 2, 5},
                 Heartbeat{8, 4, "n1", "n3", 100, 17},
                 HeartbeatResponse{8, 4, "n3", "n1", 17},
                 InstallSnapshot{9, 5, "n1", "n4", 200, 4, {"n1", "n4"}, std::string("snap\x00", 5)},
                 InstallSnapshot{9, 5, "n1", "n4", 200, 4, {"n1"}, "chunk", 7, false, {"n4"}},
                 TimeoutNow{9, 5, "n1", "n2"}}},
      RaftBatch{"n2", {}},
  };
  for (PeerMessage& m : sample_routing_messages()) out.push_back(std::move(m));
  return out;
}

// Every field set, the appended mesh id too: an extra field then comes after all known ones.
Envelope sample_envelope() {
  return Envelope{kProtocolVersion, 12, 0x0123456789abcdefull, "client-7", "00c0ffee00c0ffee"};
}

// --- helpers ----------------------------------------------------------------

template <typename Fn>
std::string build(Fn&& fn) {
  msgpack::sbuffer buffer;
  Packer p(buffer);
  fn(p);
  return std::string(buffer.data(), buffer.size());
}

void pack_str(Packer& p, std::string_view s) {
  p.pack_str(static_cast<uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}
void pack_bin(Packer& p, std::string_view s) {
  p.pack_bin(static_cast<uint32_t>(s.size()));
  p.pack_bin_body(s.data(), static_cast<uint32_t>(s.size()));
}

// A TaskSpec written field by field, with the parts a test wants to vary.
void pack_spec(Packer& p, std::string_view id, std::string_view handler, std::string_view payload,
               std::string_view key = "") {
  p.pack_array(10);
  pack_str(p, id);
  pack_str(p, handler);
  pack_bin(p, payload);
  p.pack(0);
  p.pack(3u);
  p.pack(100u);
  p.pack(30000u);
  p.pack(60000u);
  pack_str(p, key);
  p.pack(true);
}

std::string submit_body(std::string_view id, std::string_view handler, std::string_view payload,
                        std::string_view key = "") {
  return build([&](Packer& p) {
    p.pack_array(1);
    p.pack_array(1);
    pack_spec(p, id, handler, payload, key);
  });
}

std::string id_list_body(size_t n, size_t id_bytes) {
  return build([&](Packer& p) {
    p.pack_array(1);
    p.pack_array(static_cast<uint32_t>(n));
    for (size_t i = 0; i < n; ++i) pack_str(p, std::string(id_bytes, 'i'));
  });
}

// One encoded frame plus how to decode it, so one loop covers every decoder.
struct Sample {
  std::string name;
  std::string bytes;
  std::function<Status(std::string_view)> decode;
  // Decodes and re-encodes; "" if decoding failed.
  std::function<std::string(std::string_view)> reencode;
  std::vector<Path> structs;  // paths of the fixed-layout arrays (not lists)
};

std::vector<Path> request_structs(MessageKind kind) {
  switch (kind) {
    case MessageKind::kSubmitRequest: return {{}, {0, 0}, {0, 1}};
    case MessageKind::kStatsRequest: return {};  // zero fields: nothing to drop
    default: return {{}};
  }
}

std::vector<Path> record_structs(Path at) {
  Path spec = at, attempt = at;
  spec.push_back(0);
  attempt.push_back(13);
  attempt.push_back(2);  // the last attempt, a backup: every field written
  return {at, spec, attempt};
}

std::vector<Path> reply_structs(MessageKind kind) {
  std::vector<Path> out{{}};
  auto add = [&](std::vector<Path> more) { out.insert(out.end(), more.begin(), more.end()); };
  switch (kind) {
    case MessageKind::kSubmitReply: add({{0, 0}, {0, 1}}); break;
    case MessageKind::kGetReply: add(record_structs({0, 0})); break;
    case MessageKind::kWaitReply: add(record_structs({1, 0})); break;
    case MessageKind::kCancelReply: add({{0, 0}}); break;
    case MessageKind::kRetryReply: add({{0, 0}}); break;
    case MessageKind::kTxnsReply: add({{1, 0}}); break;
    case MessageKind::kEventsReply: add({{1, 0}}); break;
    case MessageKind::kListReply: add(record_structs({0, 0})); break;
    case MessageKind::kStatsReply: add({{3, 1}}); break;  // value of the first histogram entry
    case MessageKind::kPartitionsReply: add({{4, 0}, {5, 0}, {6, 0}, {6, 0, 8, 0}}); break;  // group 0 and its lag
    default: break;
  }
  return out;
}

// The body, and the first task / outcome when there is one.
std::vector<Path> routing_structs(const PeerMessage& m) {
  if (const auto* r = std::get_if<RouteSubmit>(&m); r && !r->tasks.empty()) return {{}, {3, 0}};
  if (const auto* r = std::get_if<RouteSubmitReply>(&m); r && !r->outcomes.empty()) return {{}, {3, 0}};
  if (const auto* r = std::get_if<TxnRequest>(&m); r && !r->tasks.empty()) return {{}, {8, 0}};
  if (const auto* r = std::get_if<TxnReply>(&m); r && !r->outcomes.empty()) return {{}, {7, 0}};
  return {{}};
}

std::vector<Sample> all_samples() {
  std::vector<Sample> out;
  for (const Request& q : sample_requests()) {
    uint16_t kind = static_cast<uint16_t>(request_kind(q));
    out.push_back({std::string(kind_name(request_kind(q))), encode_request(q),
                   [kind](std::string_view b) { return decode_request(kind, b).status(); },
                   [kind](std::string_view b) {
                     auto r = decode_request(kind, b);
                     return r.ok() ? encode_request(r.value()) : std::string();
                   },
                   request_structs(request_kind(q))});
  }
  for (const Reply& a : sample_replies()) {
    uint16_t kind = static_cast<uint16_t>(reply_kind(a));
    out.push_back({std::string(kind_name(reply_kind(a))), encode_reply(a),
                   [kind](std::string_view b) { return decode_reply(kind, b).status(); },
                   [kind](std::string_view b) {
                     auto r = decode_reply(kind, b);
                     return r.ok() ? encode_reply(r.value()) : std::string();
                   },
                   reply_structs(reply_kind(a))});
  }
  // The routing messages too: every minimum there is the full field count.
  for (const PeerMessage& m : sample_routing_messages()) {
    uint16_t kind = static_cast<uint16_t>(peer_kind(m));
    out.push_back({std::string(kind_name(peer_kind(m))), encode_peer(m),
                   [kind](std::string_view b) { return decode_peer(kind, b).status(); },
                   [kind](std::string_view b) {
                     auto r = decode_peer(kind, b);
                     return r.ok() ? encode_peer(r.value()) : std::string();
                   },
                   routing_structs(m)});
  }
  out.push_back({"record", encode_record(sample_record("rec")),
                 [](std::string_view b) { return decode_record(b).status(); },
                 [](std::string_view b) {
                   auto r = decode_record(b);
                   return r.ok() ? encode_record(r.value()) : std::string();
                 },
                 record_structs({})});
  out.push_back({"envelope", encode_envelope(sample_envelope()),
                 [](std::string_view b) { return decode_envelope(b).status(); },
                 [](std::string_view b) {
                   auto r = decode_envelope(b);
                   return r.ok() ? encode_envelope(r.value()) : std::string();
                 },
                 {{}}});
  return out;
}

// A TaskSpec inside a sample: of a submit, a route, a prepare, or a record.
bool is_spec_path(const std::string& sample, const Path& path) {
  if (sample == "submit") return path == Path{0, 0} || path == Path{0, 1};
  if (sample == "route_submit") return path == Path{3, 0};
  if (sample == "txn_request") return path == Path{8, 0};
  if (sample == "record") return path == Path{0};
  if (sample == "get_reply" || sample == "list_reply") return path == Path{0, 0, 0};
  if (sample == "wait_reply") return path == Path{1, 0, 0};
  return false;
}

// Trailing fields the struct at `path` of a sample may lack because they were
// appended later: an older node's shorter array still decodes.
uint32_t appended_fields(const std::string& sample, const Path& path) {
  if (is_spec_path(sample, path)) return 4;  // after, shard_index, shard_count, no_backup
  if (sample == "partitions_reply" && path.empty()) return 1;  // groups
  if (sample == "envelope" && path.empty()) return 1;          // mesh
  if ((sample == "get" || sample == "wait") && path.empty()) return 1;  // keys
  if (sample == "submit" && path.empty()) return 2;                    // atomic, txn
  if (sample == "submit_reply" && path.empty()) return 1;              // txn
  if (sample == "steals_reply" && path.empty()) return 1;              // totals
  bool record = (sample == "record" && path.empty()) ||
                ((sample == "get_reply" || sample == "list_reply") && path == Path{0, 0}) ||
                (sample == "wait_reply" && path == Path{1, 0});
  if (sample == "list" && path.empty()) return 2;  // txn, brief
  if ((sample == "cancel" || sample == "txn_request") && path.empty()) return 1;  // job, cancel_job
  if (record) return 4;  // TaskRecord.lost_attempts, txn, inputs, backup
  return path.size() >= 2 && path[path.size() - 2] == 13 ? 1 : 0;  // AttemptInfo.backup
}

// Rebuilds `o`, calling `edit` in place of the node at `path` (array
// indices; in maps 2i is the i-th key and 2i+1 its value).
using Edit = std::function<void(Packer&, const msgpack::object&)>;
void repack(Packer& p, const msgpack::object& o, const Path& path, size_t depth, const Edit& edit) {
  if (depth == path.size()) {
    edit(p, o);
    return;
  }
  if (o.type == msgpack::type::ARRAY) {
    p.pack_array(o.via.array.size);
    for (uint32_t i = 0; i < o.via.array.size; ++i) {
      if (i == path[depth]) {
        repack(p, o.via.array.ptr[i], path, depth + 1, edit);
      } else {
        p.pack(o.via.array.ptr[i]);
      }
    }
  } else if (o.type == msgpack::type::MAP) {
    p.pack_map(o.via.map.size);
    for (uint32_t i = 0; i < o.via.map.size; ++i) {
      const auto& kv = o.via.map.ptr[i];
      if (2 * i == path[depth]) repack(p, kv.key, path, depth + 1, edit); else p.pack(kv.key);
      if (2 * i + 1 == path[depth]) repack(p, kv.val, path, depth + 1, edit); else p.pack(kv.val);
    }
  } else {
    FAIL("path goes through a scalar");
  }
}

std::string rewrite(std::string_view bytes, const Path& path, const Edit& edit) {
  msgpack::object_handle h = msgpack::unpack(bytes.data(), bytes.size());
  return build([&](Packer& p) { repack(p, h.get(), path, 0, edit); });
}

void collect_paths(const msgpack::object& o, Path& at, std::vector<Path>& out) {
  out.push_back(at);
  if (o.type == msgpack::type::ARRAY) {
    for (uint32_t i = 0; i < o.via.array.size; ++i) {
      at.push_back(i);
      collect_paths(o.via.array.ptr[i], at, out);
      at.pop_back();
    }
  } else if (o.type == msgpack::type::MAP) {
    for (uint32_t i = 0; i < 2 * o.via.map.size; ++i) {
      at.push_back(i);
      collect_paths(i % 2 == 0 ? o.via.map.ptr[i / 2].key : o.via.map.ptr[i / 2].val, at, out);
      at.pop_back();
    }
  }
}

std::vector<Path> all_paths(std::string_view bytes) {
  msgpack::object_handle h = msgpack::unpack(bytes.data(), bytes.size());
  std::vector<Path> out;
  Path at;
  collect_paths(h.get(), at, out);
  return out;
}

std::string path_text(const Path& path) {
  std::string s = "[";
  for (uint32_t i : path) s += std::to_string(i) + ",";
  return s + "]";
}

// Copy of the array node at `path` with only its first `keep` items, or
// with `extra` appended.
Edit truncate_to(uint32_t keep) {
  return [keep](Packer& p, const msgpack::object& o) {
    REQUIRE(o.type == msgpack::type::ARRAY);
    p.pack_array(keep);
    for (uint32_t i = 0; i < keep; ++i) p.pack(o.via.array.ptr[i]);
  };
}
Edit append(std::function<void(Packer&)> extra) {
  return [extra](Packer& p, const msgpack::object& o) {
    REQUIRE(o.type == msgpack::type::ARRAY);
    p.pack_array(o.via.array.size + 1);
    for (uint32_t i = 0; i < o.via.array.size; ++i) p.pack(o.via.array.ptr[i]);
    extra(p);
  };
}

// A value of a type no decoder accepts where `o` stood.
void pack_other_type(Packer& p, const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::POSITIVE_INTEGER:
    case msgpack::type::NEGATIVE_INTEGER: pack_str(p, "1"); break;
    case msgpack::type::STR:
    case msgpack::type::BIN: p.pack(1); break;
    case msgpack::type::BOOLEAN: p.pack(0); break;
    case msgpack::type::ARRAY: p.pack_map(0); break;
    case msgpack::type::MAP: p.pack_array(0); break;
    default: p.pack_nil(); break;
  }
}

// --- round trips --------------------------------------------------------------

TEST_CASE("codec: TaskRecord with attempts round trips") {
  TaskRecord r = sample_record("task-42");
  std::string bytes = encode_record(r);
  auto d = decode_record(bytes);
  REQUIRE(d.ok());
  CHECK(d.value() == r);
  CHECK(d.value().attempts.size() == 3);
  CHECK(d.value().attempts[1].outcome == AttemptOutcome::kLost);
  CHECK(d.value().lease_deadline_ms == std::numeric_limits<uint64_t>::max());
  CHECK(encode_record(d.value()) == bytes);

  TaskRecord empty;  // all defaults, no attempts
  auto e = decode_record(encode_record(empty));
  REQUIRE(e.ok());
  CHECK(e.value() == empty);

  // Every state and every attempt outcome survives the trip.
  for (uint8_t s = 0; s < kTaskStateCount; ++s) {
    TaskRecord x = r;
    x.state = static_cast<TaskState>(s);
    for (auto& a : x.attempts) a.outcome = static_cast<AttemptOutcome>((s + 1) % 6);
    auto y = decode_record(encode_record(x));
    REQUIRE(y.ok());
    CHECK(y.value() == x);
  }
}

TEST_CASE("codec: kinds of requests and replies") {
  std::vector<MessageKind> req, rep;
  for (const auto& q : sample_requests()) req.push_back(request_kind(q));
  for (const auto& a : sample_replies()) rep.push_back(reply_kind(a));
  CHECK(req == std::vector<MessageKind>{MessageKind::kSubmitRequest, MessageKind::kGetRequest,
                                         MessageKind::kWaitRequest, MessageKind::kCancelRequest,
                                         MessageKind::kListRequest, MessageKind::kStatsRequest,
                                          MessageKind::kMembersRequest, MessageKind::kPartitionsRequest,
                                          MessageKind::kStealsRequest, MessageKind::kRetryRequest,
                                          MessageKind::kTxnsRequest, MessageKind::kEventsRequest,
                                          MessageKind::kDrainRequest, MessageKind::kRemoveReplicaRequest});
  CHECK(rep == std::vector<MessageKind>{MessageKind::kErrorReply, MessageKind::kSubmitReply,
                                         MessageKind::kGetReply, MessageKind::kWaitReply,
                                         MessageKind::kCancelReply, MessageKind::kListReply,
                                         MessageKind::kStatsReply, MessageKind::kMembersReply,
                                         MessageKind::kPartitionsReply, MessageKind::kStealsReply,
                                         MessageKind::kRetryReply, MessageKind::kTxnsReply,
                                         MessageKind::kEventsReply, MessageKind::kDrainReply,
                                         MessageKind::kRemoveReplicaReply});
}

TEST_CASE("codec: every request kind round trips") {
  for (const Request& q : sample_requests()) {
    MessageKind kind = request_kind(q);
    CAPTURE(kind_name(kind));
    std::string bytes = encode_request(q);
    auto d = decode_request(static_cast<uint16_t>(kind), bytes);
    REQUIRE(d.ok());
    REQUIRE(d.value().index() == q.index());
    CHECK(encode_request(d.value()) == bytes);
  }
  auto reqs = sample_requests();
  auto decoded = [](const Request& q) {
    auto d = decode_request(static_cast<uint16_t>(request_kind(q)), encode_request(q));
    REQUIRE(d.ok());
    return d.value();
  };
  {
    auto m = std::get<SubmitRequest>(decoded(reqs[0]));
    const auto& want = std::get<SubmitRequest>(reqs[0]);
    CHECK(m.tasks == want.tasks);
    CHECK(m.tasks[0].payload.size() == 11);
  }
  CHECK(std::get<GetRequest>(decoded(reqs[1])).ids == std::get<GetRequest>(reqs[1]).ids);
  CHECK(std::get<GetRequest>(decoded(reqs[1])).keys == std::vector<std::string>{"key-a", "", ""});
  {
    auto m = std::get<WaitRequest>(decoded(reqs[2]));
    CHECK(m.ids == std::vector<std::string>{"a", "c"});
    CHECK(m.all);
    CHECK(m.timeout_ms == 45000);
    CHECK(m.keys == std::vector<std::string>{"", "key-c"});
  }
  // Keys are none, or one per id.
  std::string uneven = encode_request(GetRequest{{"a", "b"}, {"k"}});
  CHECK(decode_request(static_cast<uint16_t>(MessageKind::kGetRequest), uneven).status().code() ==
        ErrorCode::kMalformed);
  CHECK(std::get<CancelRequest>(decoded(reqs[3])).ids == std::vector<std::string>{"x", "y"});
  {
    auto m = std::get<RetryRequest>(decoded(reqs[9]));
    CHECK(m.ids == std::vector<std::string>{"f1", "f2"});
    CHECK(m.all_failed);
  }
  {
    auto m = std::get<ListRequest>(decoded(reqs[4]));
    CHECK_FALSE(m.any_state);
    CHECK(m.state == TaskState::kCompleted);
    CHECK(m.limit == limits::kMaxListLimit);
    CHECK(m.after_id == "after-this");
  }
  CHECK(std::holds_alternative<StatsRequest>(decoded(reqs[5])));
  // Empty batches are fine for the codec (the node decides what they mean).
  auto empty = decode_request(static_cast<uint16_t>(MessageKind::kSubmitRequest), encode_request(SubmitRequest{}));
  REQUIRE(empty.ok());
  CHECK(std::get<SubmitRequest>(empty.value()).tasks.empty());
}

TEST_CASE("codec: every reply kind round trips") {
  for (const Reply& a : sample_replies()) {
    MessageKind kind = reply_kind(a);
    CAPTURE(kind_name(kind));
    std::string bytes = encode_reply(a);
    auto d = decode_reply(static_cast<uint16_t>(kind), bytes);
    REQUIRE(d.ok());
    REQUIRE(d.value().index() == a.index());
    CHECK(encode_reply(d.value()) == bytes);
  }
  auto reps = sample_replies();
  auto decoded = [](const Reply& a) {
    auto d = decode_reply(static_cast<uint16_t>(reply_kind(a)), encode_reply(a));
    REQUIRE(d.ok());
    return d.value();
  };
  {
    auto m = std::get<ErrorReply>(decoded(reps[0]));
    CHECK(m.code == ErrorCode::kOverloaded);
    CHECK(m.message == "queue full: retry later");
  }
  {
    auto m = std::get<SubmitReply>(decoded(reps[1]));
    REQUIRE(m.outcomes.size() == 2);
    CHECK(m.outcomes[0].id == "a");
    CHECK(m.outcomes[0].code == ErrorCode::kOk);
    CHECK(m.outcomes[0].duplicate);
    CHECK(m.outcomes[0].state == TaskState::kLeased);
    CHECK(m.outcomes[1].code == ErrorCode::kUnknownHandler);
    CHECK(m.outcomes[1].message == "unknown handler 'x'");
    CHECK_FALSE(m.outcomes[1].duplicate);
  }
  {
    auto m = std::get<GetReply>(decoded(reps[2]));
    REQUIRE(m.records.size() == 2);
    CHECK(m.records[0] == sample_record("r1"));
    CHECK(m.records[1] == sample_record("r2"));
    CHECK(m.missing == std::vector<std::string>{"gone"});
  }
  {
    auto m = std::get<WaitReply>(decoded(reps[3]));
    CHECK(m.timed_out);
    REQUIRE(m.records.size() == 1);
    CHECK(m.records[0] == sample_record("w1"));
    CHECK(m.missing == std::vector<std::string>{"m1", "m2"});
    CHECK(m.unfinished == 42);
  }
  {
    auto m = std::get<CancelReply>(decoded(reps[4]));
    REQUIRE(m.outcomes.size() == 2);
    CHECK(m.outcomes[0].id == "a");
    CHECK(m.outcomes[0].state == TaskState::kCancelled);
    CHECK(m.outcomes[1].code == ErrorCode::kAlreadyTerminal);
    CHECK(m.outcomes[1].state == TaskState::kCompleted);
  }
  {
    auto m = std::get<ListReply>(decoded(reps[5]));
    REQUIRE(m.records.size() == 1);
    CHECK(m.records[0] == sample_record("l1"));
    CHECK(m.more);
  }
  {
    auto m = std::get<StatsReply>(decoded(reps[6]));
    StatsReply want = sample_stats();
    CHECK(m.node_id == want.node_id);
    CHECK(m.counters == want.counters);
    CHECK(m.gauges == want.gauges);
    REQUIRE(m.histograms.size() == 2);
    const auto& h = m.histograms.at("run_ms");
    CHECK(h.count == 10);
    CHECK(h.sum == 200);
    CHECK(h.p50 == 15);
    CHECK(h.p90 == 30);
    CHECK(h.p99 == 90);
    CHECK(h.max == 120);
  }
}

TEST_CASE("codec: envelope round trips") {
  for (const Envelope& e : {sample_envelope(), Envelope{},
                            Envelope{65535, 65535, std::numeric_limits<uint64_t>::max(),
                                     std::string(limits::kMaxNameBytes, 's'), std::string(limits::kMaxNameBytes, 'm')},
                            Envelope{1, 100, 0, "n1", "0123456789abcdef"}}) {
    std::string bytes = encode_envelope(e);
    auto d = decode_envelope(bytes);
    REQUIRE(d.ok());
    CHECK(d.value().version == e.version);
    CHECK(d.value().kind == e.kind);  // kept raw, even when unknown
    CHECK(d.value().request_id == e.request_id);
    CHECK(d.value().sender == e.sender);
    CHECK(d.value().mesh == e.mesh);
    CHECK(encode_envelope(d.value()) == bytes);
  }
}

// --- broken frames ------------------------------------------------------------

TEST_CASE("codec: empty input is malformed for every decoder") {
  for (const Sample& s : all_samples()) {
    CAPTURE(s.name);
    Status st = s.decode("");
    CHECK(st.code() == ErrorCode::kMalformed);
    CHECK(s.decode("\xc1").code() == ErrorCode::kMalformed);  // the one byte msgpack never uses
    CHECK(s.decode(std::string_view("\x00", 1)).code() == ErrorCode::kMalformed);  // a lone integer
  }
}

TEST_CASE("codec: every prefix of a valid encoding is an error") {
  size_t checked = 0;
  for (const Sample& s : all_samples()) {
    CAPTURE(s.name);
    for (size_t n = 0; n < s.bytes.size(); ++n) {
      CAPTURE(n);
      Status st = s.decode(std::string_view(s.bytes).substr(0, n));
      // msgpack is prefix-free, so a proper prefix is never a whole value.
      CHECK(st.code() == ErrorCode::kMalformed);
      ++checked;
    }
  }
  CHECK(checked > 1000);
}

TEST_CASE("codec: trailing bytes are malformed") {
  for (const Sample& s : all_samples()) {
    CAPTURE(s.name);
    CHECK(s.decode(s.bytes).ok());
    CHECK(s.decode(s.bytes + '\xc0').code() == ErrorCode::kMalformed);
    CHECK(s.decode(s.bytes + '\x00').code() == ErrorCode::kMalformed);
    CHECK(s.decode(s.bytes + s.bytes).code() == ErrorCode::kMalformed);
  }
}

TEST_CASE("codec: a value of the wrong type anywhere is malformed") {
  size_t checked = 0;
  for (const Sample& s : all_samples()) {
    CAPTURE(s.name);
    for (const Path& path : all_paths(s.bytes)) {
      CAPTURE(path_text(path));
      // nil is never a valid field...
      std::string nil = rewrite(s.bytes, path, [](Packer& p, const msgpack::object&) { p.pack_nil(); });
      CHECK(s.decode(nil).code() == ErrorCode::kMalformed);
      // ...nor is a string for a number, a number for a string or a bool,
      // a map for an array or an array for a map.
      std::string other = rewrite(s.bytes, path, pack_other_type);
      CHECK(s.decode(other).code() == ErrorCode::kMalformed);
      // Floats are never used.
      std::string flt = rewrite(s.bytes, path, [](Packer& p, const msgpack::object&) { p.pack_double(1.5); });
      CHECK(s.decode(flt).code() == ErrorCode::kMalformed);
      checked += 3;
    }
  }
  CHECK(checked > 500);
}

TEST_CASE("codec: wrong number types are malformed") {
  auto submit = static_cast<uint16_t>(MessageKind::kSubmitRequest);
  // max_attempts (task field 4) must not be negative.
  std::string neg = rewrite(encode_request(sample_requests()[0]), {0, 0, 4},
                            [](Packer& p, const msgpack::object&) { p.pack(-1); });
  CHECK(decode_request(submit, neg).status().code() == ErrorCode::kMalformed);
  // max_attempts is 32-bit.
  std::string wide = rewrite(encode_request(sample_requests()[0]), {0, 0, 4},
                             [](Packer& p, const msgpack::object&) { p.pack(uint64_t{1} << 32); });
  CHECK(decode_request(submit, wide).status().code() == ErrorCode::kMalformed);
  // A priority outside int32 is a range error of the field, not of the frame.
  std::string prio = rewrite(encode_request(sample_requests()[0]), {0, 0, 3},
                             [](Packer& p, const msgpack::object&) { p.pack(int64_t{1} << 40); });
  CHECK(decode_request(submit, prio).status().code() == ErrorCode::kInvalidArgument);
  std::string huge = rewrite(encode_request(sample_requests()[0]), {0, 0, 3},
                             [](Packer& p, const msgpack::object&) { p.pack(std::numeric_limits<uint64_t>::max()); });
  CHECK(decode_request(submit, huge).status().code() == ErrorCode::kMalformed);
  // Envelope version and kind are 16-bit.
  std::string ver = rewrite(encode_envelope(sample_envelope()), {0},
                            [](Packer& p, const msgpack::object&) { p.pack(65536u); });
  CHECK(decode_envelope(ver).status().code() == ErrorCode::kMalformed);
  // Error codes are 16-bit.
  std::string code = rewrite(encode_reply(sample_replies()[0]), {0},
                             [](Packer& p, const msgpack::object&) { p.pack(70000u); });
  CHECK(decode_reply(static_cast<uint16_t>(MessageKind::kErrorReply), code).status().code() ==
        ErrorCode::kMalformed);
  // msgpack ext values are not part of the protocol.
  std::string ext = rewrite(encode_request(sample_requests()[0]), {0, 0, 2}, [](Packer& p, const msgpack::object&) {
    p.pack_ext(1, 5);
    p.pack_ext_body("x", 1);
  });
  CHECK(decode_request(submit, ext).status().code() == ErrorCode::kMalformed);
  // Items of id lists must be str (bin is accepted only for single fields).
  std::string bin_id = build([](Packer& p) {
    p.pack_array(1);
    p.pack_array(1);
    pack_bin(p, "a");
  });
  CHECK(decode_request(static_cast<uint16_t>(MessageKind::kGetRequest), bin_id).status().code() ==
        ErrorCode::kMalformed);
}

TEST_CASE("codec: str and bin are interchangeable for single string fields") {
  auto kind = static_cast<uint16_t>(MessageKind::kSubmitRequest);
  std::string body = build([](Packer& p) {
    p.pack_array(1);
    p.pack_array(1);
    p.pack_array(10);
    pack_bin(p, "id-as-bin");
    pack_bin(p, "echo");
    pack_str(p, "payload-as-str");
    p.pack(1);
    p.pack(3);
    p.pack(100);
    p.pack(1000);
    p.pack(5000);
    pack_bin(p, "");
    p.pack(false);
  });
  auto d = decode_request(kind, body);
  REQUIRE(d.ok());
  const TaskSpec& t = std::get<SubmitRequest>(d.value()).tasks.at(0);
  CHECK(t.id == "id-as-bin");
  CHECK(t.handler == "echo");
  CHECK(t.payload == "payload-as-str");
  CHECK(t.priority == 1);
  CHECK(t.timeout_ms == 5000);
  CHECK_FALSE(t.stealable);
}

TEST_CASE("codec: too few fields are malformed") {
  size_t checked = 0;
  for (const Sample& s : all_samples()) {
    CAPTURE(s.name);
    for (const Path& path : s.structs) {
      CAPTURE(path_text(path));
      msgpack::object_handle h = msgpack::unpack(s.bytes.data(), s.bytes.size());
      const msgpack::object* node = &h.get();
      for (uint32_t i : path) {
        node = node->type == msgpack::type::MAP ? (i % 2 ? &node->via.map.ptr[i / 2].val : &node->via.map.ptr[i / 2].key)
                                                : &node->via.array.ptr[i];
      }
      REQUIRE(node->type == msgpack::type::ARRAY);
      for (uint32_t keep = 0; keep + appended_fields(s.name, path) < node->via.array.size; ++keep) {
        CAPTURE(keep);
        CHECK(s.decode(rewrite(s.bytes, path, truncate_to(keep))).code() == ErrorCode::kMalformed);
        ++checked;
      }
    }
  }
  CHECK(checked > 100);
  // Hand-written: a wait request with only its id list.
  std::string wait = build([](Packer& p) {
    p.pack_array(2);
    p.pack_array(0);
    p.pack(true);
  });
  CHECK(decode_request(static_cast<uint16_t>(MessageKind::kWaitRequest), wait).status().code() ==
        ErrorCode::kMalformed);
}

TEST_CASE("codec: every transaction step round trips, and a step past the last is refused") {
  for (TxnStep step : {TxnStep::kPrepare, TxnStep::kDecide, TxnStep::kResolve, TxnStep::kInquire, TxnStep::kStage,
                       TxnStep::kFence}) {
    CAPTURE(txn_step_name(step));
    PeerMessage request = TxnRequest{step, 8, "tcp://10.0.0.1:7700", "txn-1", 3, 3, false, {3, 17}, {}};
    auto decoded = decode_peer(static_cast<uint16_t>(MessageKind::kTxnRequest), encode_peer(request));
    REQUIRE_MESSAGE(decoded.ok(), decoded.status().message());
    CHECK(std::get<TxnRequest>(decoded.value()).step == step);
  }
  PeerMessage beyond = TxnRequest{static_cast<TxnStep>(7), 8, "tcp://10.0.0.1:7700", "txn-1", 3, 3, false, {}, {}};
  CHECK(decode_peer(static_cast<uint16_t>(MessageKind::kTxnRequest), encode_peer(beyond)).status().code() ==
        ErrorCode::kMalformed);
}

TEST_CASE("codec: extra appended fields are accepted (forward compatibility)") {
  std::vector<std::function<void(Packer&)>> extras = {
      [](Packer& p) { p.pack_nil(); },
      [](Packer& p) { pack_str(p, "a field from a newer version"); },
      [](Packer& p) {
        p.pack_array(3);
        p.pack(1);
        p.pack(-2);
        p.pack_map(1);
        pack_str(p, "k");
        p.pack(1.5);
      },
  };
  for (const Sample& s : all_samples()) {
    CAPTURE(s.name);
    std::vector<Path> structs = s.structs;
    if (structs.empty()) structs.push_back({});  // stats request: [] grows too
    for (const Path& path : structs) {
      CAPTURE(path_text(path));
      // The default spec omits its appended tail; a newer peer writes it before a field of its own.
      if (s.name == "submit" && path == Path{0, 1}) continue;
      for (const auto& extra : extras) {
        std::string longer = rewrite(s.bytes, path, append(extra));
        CHECK(s.decode(longer).ok());
        // The unknown field is dropped: re-encoding gives today's encoding.
        CHECK(s.reencode(longer) == s.bytes);
      }
    }
  }
  // Written by hand: a get request from a newer peer with a third field.
  std::string body = build([](Packer& p) {
    p.pack_array(3);
    p.pack_array(2);
    pack_str(p, "a");
    pack_str(p, "b");
    p.pack_array(0);  // keys: none
    p.pack(uint64_t{99});
  });
  auto d = decode_request(static_cast<uint16_t>(MessageKind::kGetRequest), body);
  REQUIRE(d.ok());
  CHECK(std::get<GetRequest>(d.value()).ids == std::vector<std::string>{"a", "b"});
  // And a task spec with a 15th field inside a submit.
  std::string submit = build([](Packer& p) {
    p.pack_array(1);
    p.pack_array(1);
    p.pack_array(15);
    pack_str(p, "t");
    pack_str(p, "echo");
    pack_bin(p, "x");
    p.pack(0);
    p.pack(3);
    p.pack(100);
    p.pack(200);
    p.pack(300);
    pack_str(p, "");
    p.pack(true);
    p.pack_array(0);
    p.pack(0);
    p.pack(0);
    p.pack(false);  // no_backup
    pack_str(p, "new-field");
  });
  auto s = decode_request(static_cast<uint16_t>(MessageKind::kSubmitRequest), submit);
  REQUIRE(s.ok());
  CHECK(std::get<SubmitRequest>(s.value()).tasks.at(0).timeout_ms == 300);
}

TEST_CASE("codec: oversized payload, ids, names and batches are too large") {
  auto submit = static_cast<uint16_t>(MessageKind::kSubmitRequest);
  auto code = [&](const std::string& body) { return decode_request(submit, body).status().code(); };
  std::string mb(limits::kMaxPayloadBytes, 'p');
  CHECK(decode_request(submit, submit_body("t", "h", mb)).ok());
  CHECK(code(submit_body("t", "h", mb + "p")) == ErrorCode::kTooLarge);
  // A payload sent as str instead of bin is held to the same limit.
  std::string as_str = build([&](Packer& p) {
    p.pack_array(1);
    p.pack_array(1);
    p.pack_array(10);
    pack_str(p, "t");
    pack_str(p, "h");
    pack_str(p, mb + "p");
    for (int i = 0; i < 5; ++i) p.pack(1);
    pack_str(p, "");
    p.pack(true);
  });
  CHECK(code(as_str) == ErrorCode::kTooLarge);

  std::string id(limits::kMaxIdBytes, 'i');
  CHECK(decode_request(submit, submit_body(id, "h", "")).ok());
  CHECK(code(submit_body(id + "i", "h", "")) == ErrorCode::kTooLarge);
  CHECK(code(submit_body("t", "h", "", id + "k")) == ErrorCode::kTooLarge);  // partition key
  std::string name(limits::kMaxNameBytes, 'n');
  CHECK(decode_request(submit, submit_body("t", name, "")).ok());
  CHECK(code(submit_body("t", name + "n", "")) == ErrorCode::kTooLarge);

  // Batches: tasks per submit, ids per get / wait / cancel.
  std::string full = build([](Packer& p) {
    p.pack_array(1);
    p.pack_array(limits::kMaxBatchTasks);
    for (size_t i = 0; i < limits::kMaxBatchTasks; ++i) pack_spec(p, "t" + std::to_string(i), "h", "");
  });
  auto ok = decode_request(submit, full);
  REQUIRE(ok.ok());
  CHECK(std::get<SubmitRequest>(ok.value()).tasks.size() == limits::kMaxBatchTasks);
  std::string over = build([](Packer& p) {
    p.pack_array(1);
    p.pack_array(limits::kMaxBatchTasks + 1);
    for (size_t i = 0; i <= limits::kMaxBatchTasks; ++i) pack_spec(p, "t", "h", "");
  });
  CHECK(code(over) == ErrorCode::kTooLarge);
  for (MessageKind k : {MessageKind::kGetRequest, MessageKind::kCancelRequest}) {
    CAPTURE(kind_name(k));
    CHECK(decode_request(static_cast<uint16_t>(k), id_list_body(limits::kMaxBatchTasks, 8)).ok());
    CHECK(decode_request(static_cast<uint16_t>(k), id_list_body(limits::kMaxBatchTasks + 1, 8)).status().code() ==
          ErrorCode::kTooLarge);
    CHECK(decode_request(static_cast<uint16_t>(k), id_list_body(1, limits::kMaxIdBytes + 1)).status().code() ==
          ErrorCode::kTooLarge);
  }
  std::string wait = build([](Packer& p) {
    p.pack_array(3);
    p.pack_array(limits::kMaxBatchTasks + 1);
    for (size_t i = 0; i <= limits::kMaxBatchTasks; ++i) pack_str(p, "w");
    p.pack(false);
    p.pack(10);
  });
  CHECK(decode_request(static_cast<uint16_t>(MessageKind::kWaitRequest), wait).status().code() ==
        ErrorCode::kTooLarge);
}

TEST_CASE("codec: other limits") {
  // Envelope: sender is a node id / client name; the whole frame is small.
  Envelope e = sample_envelope();
  e.sender = std::string(limits::kMaxNameBytes + 1, 's');
  CHECK(decode_envelope(encode_envelope(e)).status().code() == ErrorCode::kTooLarge);
  std::string big_env = rewrite(encode_envelope(sample_envelope()), {},
                                append([](Packer& p) { pack_str(p, std::string(1100, 'x')); }));
  CHECK(decode_envelope(big_env).status().code() == ErrorCode::kTooLarge);

  // Any frame over kMaxFrameBytes is refused before parsing.
  std::string huge(limits::kMaxFrameBytes + 1, '\x90');
  CHECK(decode_request(static_cast<uint16_t>(MessageKind::kGetRequest), huge).status().code() == ErrorCode::kTooLarge);
  CHECK(decode_reply(static_cast<uint16_t>(MessageKind::kGetReply), huge).status().code() == ErrorCode::kTooLarge);
  CHECK(decode_record(huge).status().code() == ErrorCode::kTooLarge);

  // Error text.
  auto err = static_cast<uint16_t>(MessageKind::kErrorReply);
  CHECK(decode_reply(err, encode_reply(ErrorReply{ErrorCode::kConflict, std::string(limits::kMaxErrorBytes, 'e')})).ok());
  CHECK(decode_reply(err, encode_reply(ErrorReply{ErrorCode::kConflict, std::string(limits::kMaxErrorBytes + 1, 'e')}))
            .status()
            .code() == ErrorCode::kTooLarge);

  // Attempts kept per record: 4 * kMaxAttempts (lost attempts do not count).
  TaskRecord r = sample_record("r");
  r.attempts.assign(limits::kMaxAttempts * 4, AttemptInfo{1, "n", 1, 2, AttemptOutcome::kLost, ""});
  CHECK(decode_record(encode_record(r)).ok());
  r.attempts.push_back(r.attempts.back());
  CHECK(decode_record(encode_record(r)).status().code() == ErrorCode::kTooLarge);

  // Records per reply.
  std::string many = build([](Packer& p) {
    p.pack_array(2);
    p.pack_array(limits::kMaxListLimit + 1);
    for (size_t i = 0; i <= limits::kMaxListLimit; ++i) p.pack_nil();
    p.pack(false);
  });
  CHECK(decode_reply(static_cast<uint16_t>(MessageKind::kListReply), many).status().code() == ErrorCode::kTooLarge);

  // List limit above kMaxListLimit is an out-of-range field.
  ListRequest list{true, TaskState::kPending, limits::kMaxListLimit, ""};
  std::string over_limit = rewrite(encode_request(list), {2}, [](Packer& p, const msgpack::object&) {
    p.pack(limits::kMaxListLimit + 1);
  });
  CHECK(decode_request(static_cast<uint16_t>(MessageKind::kListRequest), over_limit).status().code() ==
        ErrorCode::kMalformed);

  // Stats maps hold at most 4096 entries; keys at most 2 * kMaxNameBytes.
  auto stats_kind = static_cast<uint16_t>(MessageKind::kStatsReply);
  StatsReply st;
  for (int i = 0; i < 4096; ++i) st.counters["c" + std::to_string(i)] = 1;
  CHECK(decode_reply(stats_kind, encode_reply(st)).ok());
  st.counters["one-more"] = 1;
  CHECK(decode_reply(stats_kind, encode_reply(st)).status().code() == ErrorCode::kTooLarge);
  StatsReply keys;
  keys.gauges[std::string(limits::kMaxNameBytes * 2, 'k')] = 1;
  CHECK(decode_reply(stats_kind, encode_reply(keys)).ok());
  keys.gauges[std::string(limits::kMaxNameBytes * 2 + 1, 'k')] = 1;
  CHECK(decode_reply(stats_kind, encode_reply(keys)).status().code() == ErrorCode::kMalformed);

  // A string over kMaxPayloadBytes is too large even in an unknown extra field.
  std::string extra = rewrite(encode_request(GetRequest{{"a"}}), {}, append([](Packer& p) {
                                pack_str(p, std::string(limits::kMaxPayloadBytes + 1, 'x'));
                              }));
  CHECK(decode_request(static_cast<uint16_t>(MessageKind::kGetRequest), extra).status().code() ==
        ErrorCode::kTooLarge);
}

TEST_CASE("codec: peer messages round trip and are never requests") {
  for (const PeerMessage& m : sample_peer_messages()) {
    uint16_t kind = static_cast<uint16_t>(peer_kind(m));
    CAPTURE(kind);
    CHECK(is_peer_kind(kind));
    std::string bytes = encode_peer(m);
    auto decoded = decode_peer(kind, bytes);
    REQUIRE(decoded.ok());
    CHECK(encode_peer(decoded.value()) == bytes);
    CHECK(decode_request(kind, bytes).status().code() == ErrorCode::kUnknownMessageType);
    for (size_t cut = 0; cut < bytes.size(); ++cut) CHECK_FALSE(decode_peer(kind, bytes.substr(0, cut)).ok());
  }
  CHECK(decode_peer(static_cast<uint16_t>(MessageKind::kStatsRequest), "\x90").status().code() ==
        ErrorCode::kUnknownMessageType);
  MemberUpdate bad_state{"n9", "tcp://x:1", 0, MemberState::kAlive, {}, ""};
  std::string sync = encode_peer(Sync{"n1", "tcp://x:2", false, {bad_state}});
  // Patch the member state byte (0 = alive) to an unknown state 9.
  auto pos = sync.rfind(std::string("\x00\x97", 2));  // the state, then the load digest (7 fields)
  REQUIRE(pos != std::string::npos);
  sync[pos] = 9;
  CHECK(decode_peer(static_cast<uint16_t>(MessageKind::kSync), sync).status().code() == ErrorCode::kMalformed);
}

TEST_CASE("codec: routing messages round trip field by field") {
  auto decoded = [](const PeerMessage& m) {
    auto d = decode_peer(static_cast<uint16_t>(peer_kind(m)), encode_peer(m));
    REQUIRE_MESSAGE(d.ok(), d.status().message());
    REQUIRE(d.value().index() == m.index());
    return d.value();
  };
  auto msgs = sample_routing_messages();
  {
    auto m = std::get<RouteSubmit>(decoded(msgs[0]));
    const auto& want = std::get<RouteSubmit>(msgs[0]);
    CHECK(m.route_id == 41);
    CHECK(m.origin_address == "tcp://10.0.0.1:7700");
    CHECK(m.partition == 17);
    CHECK(m.tasks == want.tasks);
  }
  CHECK(std::get<RouteSubmit>(decoded(msgs[1])).tasks.empty());
  {
    auto m = std::get<RouteSubmitReply>(decoded(msgs[2]));
    CHECK(m.route_id == 41);
    CHECK(m.code == ErrorCode::kOk);
    CHECK(m.leader_address.empty());
    REQUIRE(m.outcomes.size() == 2);
    CHECK(m.outcomes[0].id == "a");
    CHECK(m.outcomes[0].duplicate);
    CHECK(m.outcomes[0].state == TaskState::kLeased);
    CHECK(m.outcomes[1].code == ErrorCode::kUnknownHandler);
    CHECK(m.outcomes[1].message == "unknown handler 'x'");
  }
  {
    auto m = std::get<RouteSubmitReply>(decoded(msgs[3]));
    CHECK(m.route_id == 42);
    CHECK(m.code == ErrorCode::kNotLeader);
    CHECK(m.leader_address == "tcp://10.0.0.3:7700");
    CHECK(m.outcomes.empty());
  }
  {
    auto m = std::get<Fanout>(decoded(msgs[4]));
    CHECK(m.fanout_id == 7);
    CHECK(m.origin_address == "tcp://10.0.0.1:7700");
    CHECK(std::get<GetRequest>(m.request).ids == std::vector<std::string>{"a", "b"});
  }
  {
    auto w = std::get<WaitRequest>(std::get<Fanout>(decoded(msgs[5])).request);
    CHECK(w.ids == std::vector<std::string>{"a"});
    CHECK(w.all);
    CHECK(w.timeout_ms == 45000);
  }
  CHECK(std::get<CancelRequest>(std::get<Fanout>(decoded(msgs[6])).request).ids == std::vector<std::string>{"x", "y"});
  {
    auto l = std::get<ListRequest>(std::get<Fanout>(decoded(msgs[7])).request);
    CHECK_FALSE(l.any_state);
    CHECK(l.state == TaskState::kCompleted);
    CHECK(l.limit == 500);
    CHECK(l.after_id == "after-this");
  }
  {
    auto m = std::get<FanoutReply>(decoded(msgs[8]));
    CHECK(m.fanout_id == 7);
    CHECK(m.from_id == "n2");
    CHECK(m.covered == std::vector<uint32_t>{0, 3, 65535});
    const auto& g = std::get<GetReply>(m.reply);
    REQUIRE(g.records.size() == 1);
    CHECK(g.records[0] == sample_record("r1"));
    CHECK(g.missing == std::vector<std::string>{"gone"});
  }
  {
    auto m = std::get<FanoutReply>(decoded(msgs[9]));
    const auto& w = std::get<WaitReply>(m.reply);
    CHECK(w.timed_out);
    CHECK(w.unfinished == 4);
    REQUIRE(w.records.size() == 1);
    CHECK(w.records[0] == sample_record("w1"));
  }
  CHECK(std::get<CancelReply>(std::get<FanoutReply>(decoded(msgs[10])).reply).outcomes.at(0).id == "x");
  CHECK(std::get<ListReply>(std::get<FanoutReply>(decoded(msgs[11])).reply).more);
  {
    auto m = std::get<FanoutReply>(decoded(msgs[12]));
    CHECK(m.covered.empty());
    CHECK(std::get<ErrorReply>(m.reply).code == ErrorCode::kShuttingDown);
    CHECK(std::get<ErrorReply>(m.reply).message == "draining");
  }
  // The nested body is exactly what encode_request / encode_reply write.
  std::string fanout = encode_peer(msgs[4]);
  std::string nested = encode_request(std::get<Fanout>(msgs[4]).request);
  CHECK(fanout.find(nested) != std::string::npos);
}

TEST_CASE("codec: replica_id and the partition of a RunTask round trip") {
  MemberUpdate u{"n2", "tcp://10.0.0.2:7700", 3, MemberState::kAlive, {1, 2, 3, 4}, "n2#2"};
  auto sync = decode_peer(static_cast<uint16_t>(MessageKind::kSync), encode_peer(Sync{"n1", "tcp://a:1", true, {u}}));
  REQUIRE(sync.ok());
  CHECK(std::get<Sync>(sync.value()).members == std::vector<MemberUpdate>{u});
  auto ping_kind = static_cast<uint16_t>(MessageKind::kPing);
  auto ping = decode_peer(ping_kind, encode_peer(Ping{1, "n1", "tcp://a:1", "n2", {u}}));
  REQUIRE(ping.ok());
  CHECK(std::get<Ping>(ping.value()).updates.at(0).replica_id == "n2#2");

  StealGrant grant{"n1", "tcp://a:1", {{"t1", 2, "sleep", "5", 100, 4095}}};
  auto g = decode_peer(static_cast<uint16_t>(MessageKind::kStealGrant), encode_peer(grant));
  REQUIRE(g.ok());
  CHECK(std::get<StealGrant>(g.value()).tasks.at(0).partition == 4095);

  auto members = decode_reply(static_cast<uint16_t>(MessageKind::kMembersReply), encode_reply(sample_replies()[7]));
  REQUIRE(members.ok());
  const auto& list = std::get<MembersReply>(members.value()).members;
  REQUIRE(list.size() == 2);
  CHECK(list[0].replica_id == "n1#2");
  CHECK(list[1].replica_id.empty());
}

TEST_CASE("codec: messages of older nodes without replica_id or partition still decode") {
  // Sync members item 0, StealGrant task 0, MembersReply member 0: cut back
  // to the fields they had before the last one was appended.
  MemberUpdate u{"n2", "tcp://10.0.0.2:7700", 3, MemberState::kSuspect, {1, 2, 3, 4}, "n2#2"};
  auto sync_kind = static_cast<uint16_t>(MessageKind::kSync);
  std::string sync = rewrite(encode_peer(Sync{"n1", "tcp://a:1", false, {u}}), {3, 0}, truncate_to(5));
  auto s = decode_peer(sync_kind, sync);
  REQUIRE_MESSAGE(s.ok(), s.status().message());
  const MemberUpdate& old = std::get<Sync>(s.value()).members.at(0);
  CHECK(old.id == "n2");
  CHECK(old.incarnation == 3);
  CHECK(old.state == MemberState::kSuspect);
  CHECK(old.load == LoadDigest{1, 2, 3, 4});
  CHECK(old.replica_id.empty());
  // One field fewer than that is still too few.
  CHECK(decode_peer(sync_kind, rewrite(sync, {3, 0}, truncate_to(4))).status().code() == ErrorCode::kMalformed);

  auto grant_kind = static_cast<uint16_t>(MessageKind::kStealGrant);
  StealGrant grant{"n1", "tcp://a:1", {{"t1", 2, "sleep", "5", 100, 9}}};
  std::string old_grant = rewrite(encode_peer(grant), {2, 0}, truncate_to(5));
  auto g = decode_peer(grant_kind, old_grant);
  REQUIRE_MESSAGE(g.ok(), g.status().message());
  CHECK(std::get<StealGrant>(g.value()).tasks.at(0).timeout_ms == 100);
  CHECK(std::get<StealGrant>(g.value()).tasks.at(0).partition == 0);
  CHECK(decode_peer(grant_kind, rewrite(old_grant, {2, 0}, truncate_to(4))).status().code() == ErrorCode::kMalformed);

  auto members_kind = static_cast<uint16_t>(MessageKind::kMembersReply);
  std::string old_members = rewrite(encode_reply(sample_replies()[7]), {1, 0}, truncate_to(6));
  auto m = decode_reply(members_kind, old_members);
  REQUIRE_MESSAGE(m.ok(), m.status().message());
  CHECK(std::get<MembersReply>(m.value()).members.at(0).state_since_ms == 100);
  CHECK(std::get<MembersReply>(m.value()).members.at(0).replica_id.empty());
  CHECK(decode_reply(members_kind, rewrite(old_members, {1, 0}, truncate_to(5))).status().code() ==
        ErrorCode::kMalformed);

  // The new fields are typed like the others.
  auto put_int = [](Packer& p, const msgpack::object&) { p.pack(5); };
  CHECK(decode_peer(sync_kind, rewrite(encode_peer(Sync{"n1", "tcp://a:1", false, {u}}), {3, 0, 5}, put_int))
            .status()
            .code() == ErrorCode::kMalformed);
  auto put_str = [](Packer& p, const msgpack::object&) { pack_str(p, "5"); };
  CHECK(decode_peer(grant_kind, rewrite(encode_peer(grant), {2, 0, 5}, put_str)).status().code() ==
        ErrorCode::kMalformed);
  auto put_wide = [](Packer& p, const msgpack::object&) { p.pack(uint64_t{1} << 32); };
  CHECK(decode_peer(grant_kind, rewrite(encode_peer(grant), {2, 0, 5}, put_wide)).status().code() ==
        ErrorCode::kMalformed);
}

TEST_CASE("codec: the Raft groups of a PartitionsReply round trip field by field") {
  auto kind = static_cast<uint16_t>(MessageKind::kPartitionsReply);
  PartitionsReply sent = std::get<PartitionsReply>(sample_replies()[8]);
  auto d = decode_reply(kind, encode_reply(sent));
  REQUIRE_MESSAGE(d.ok(), d.status().message());
  const auto& groups = std::get<PartitionsReply>(d.value()).groups;
  REQUIRE(groups.size() == 2);
  const GroupInfo& leader = groups[0];
  CHECK(leader.partition == 0);
  CHECK(leader.role == "leader");
  CHECK(leader.term == 7);
  CHECK(leader.leader == "n1#2");
  CHECK(leader.commit_index == 41);
  CHECK(leader.applied_index == 40);
  CHECK(leader.last_index == 42);
  CHECK(leader.voters == std::vector<std::string>{"n1#2", "n2#5", "n3#1"});
  REQUIRE(leader.lag.size() == 2);
  CHECK(leader.lag[0].replica_id == "n2#5");
  CHECK(leader.lag[0].behind == 0);
  CHECK(leader.lag[1].replica_id == "n3#1");
  CHECK(leader.lag[1].behind == 3);
  const GroupInfo& follower = groups[1];
  CHECK(follower.partition == 1);
  CHECK(follower.role == "follower");
  CHECK(follower.term == std::numeric_limits<uint64_t>::max());
  CHECK(follower.leader.empty());
  CHECK(follower.voters == std::vector<std::string>{"n2#5"});
  CHECK(follower.lag.empty());
  // A node that hosts no replica sends an empty list.
  sent.groups.clear();
  auto none = decode_reply(kind, encode_reply(sent));
  REQUIRE(none.ok());
  CHECK(std::get<PartitionsReply>(none.value()).groups.empty());
}

TEST_CASE("codec: a PartitionsReply of an older node without groups still decodes") {
  auto kind = static_cast<uint16_t>(MessageKind::kPartitionsReply);
  std::string old = rewrite(encode_reply(sample_replies()[8]), {}, truncate_to(6));
  auto d = decode_reply(kind, old);
  REQUIRE_MESSAGE(d.ok(), d.status().message());
  const auto& m = std::get<PartitionsReply>(d.value());
  CHECK(m.digest == 0xfeedfacecafebeefull);
  CHECK(m.shares.size() == 2);
  CHECK(m.groups.empty());
  CHECK(decode_reply(kind, rewrite(old, {}, truncate_to(5))).status().code() == ErrorCode::kMalformed);
  // Present, the field is typed like the others.
  auto put_map = [](Packer& p, const msgpack::object&) { p.pack_map(0); };
  CHECK(decode_reply(kind, rewrite(encode_reply(sample_replies()[8]), {6}, put_map)).status().code() ==
        ErrorCode::kMalformed);
}

TEST_CASE("codec: limits of the Raft groups of a PartitionsReply") {
  auto kind = static_cast<uint16_t>(MessageKind::kPartitionsReply);
  auto code = [&](const PartitionsReply& m) { return decode_reply(kind, encode_reply(m)).status().code(); };
  // At most 65536 groups, one per partition.
  PartitionsReply many;
  many.groups.assign(65536, GroupInfo{});
  CHECK(code(many) == ErrorCode::kOk);
  many.groups.emplace_back();
  CHECK(code(many) == ErrorCode::kTooLarge);
  // At most 64 voters and 64 followers' lag per group.
  PartitionsReply one;
  one.groups.resize(1);
  one.groups[0].voters.assign(64, "n1#1");
  one.groups[0].lag.assign(64, FollowerLag{"n2#1", 1});
  CHECK(code(one) == ErrorCode::kOk);
  one.groups[0].voters.emplace_back("n1#1");
  CHECK(code(one) == ErrorCode::kTooLarge);
  one.groups[0].voters.pop_back();
  one.groups[0].lag.push_back(FollowerLag{"n2#1", 1});
  CHECK(code(one) == ErrorCode::kTooLarge);
  // Replica ids and the role are names: at most kMaxNameBytes.
  const std::string name(limits::kMaxNameBytes, 'n');
  for (int field = 0; field < 4; ++field) {
    CAPTURE(field);
    PartitionsReply m;
    GroupInfo g = sample_groups()[0];
    std::string* text[] = {&g.role, &g.leader, &g.voters[1], &g.lag[1].replica_id};
    *text[field] = name;
    m.groups = {g};
    CHECK(code(m) == ErrorCode::kOk);
    *text[field] += "n";
    m.groups = {g};
    CHECK(code(m) == ErrorCode::kTooLarge);
  }
}

// A Fanout body with any kind id and nested body.
std::string fanout_body(uint16_t kind, std::string_view nested) {
  return build([&](Packer& p) {
    p.pack_array(4);
    p.pack(uint64_t{7});
    pack_str(p, "tcp://a:1");
    p.pack(kind);
    pack_bin(p, nested);
  });
}

std::string fanout_reply_body(uint16_t kind, std::string_view nested) {
  return build([&](Packer& p) {
    p.pack_array(5);
    p.pack(uint64_t{7});
    pack_str(p, "n2");
    p.pack_array(1);
    p.pack(0);
    p.pack(kind);
    pack_bin(p, nested);
  });
}

TEST_CASE("codec: a Fanout carries only get, wait, cancel, retry and list requests") {
  auto fanout = static_cast<uint16_t>(MessageKind::kFanout);
  auto code = [&](const std::string& body) { return decode_peer(fanout, body).status().code(); };
  // A submit goes to partition leaders (RouteSubmit), never to everyone.
  Fanout submit{7, "tcp://a:1", SubmitRequest{{sample_spec("a")}}};
  Status st = decode_peer(fanout, encode_peer(submit)).status();
  CHECK(st.code() == ErrorCode::kMalformed);
  CHECK(st.message().find("cannot be fanned out") != std::string::npos);
  for (const Request& q : sample_requests()) {
    MessageKind kind = request_kind(q);
    CAPTURE(kind_name(kind));
    bool allowed = kind == MessageKind::kGetRequest || kind == MessageKind::kWaitRequest ||
                   kind == MessageKind::kCancelRequest || kind == MessageKind::kListRequest ||
                   kind == MessageKind::kRetryRequest;
    ErrorCode got = code(fanout_body(static_cast<uint16_t>(kind), encode_request(q)));
    CHECK(got == (allowed ? ErrorCode::kOk : ErrorCode::kMalformed));
  }
  // Reply kinds, peer kinds and unknown kinds are no requests at all.
  std::string get = encode_request(GetRequest{{"a"}});
  for (uint16_t kind : {uint16_t{0}, uint16_t{13}, uint16_t{100}, uint16_t{132}, uint16_t{999}, uint16_t{65535}}) {
    CAPTURE(kind);
    CHECK(code(fanout_body(kind, get)) == ErrorCode::kMalformed);
  }
  // The nested body is decoded as strictly as a request of its own.
  auto get_kind = static_cast<uint16_t>(MessageKind::kGetRequest);
  CHECK(code(fanout_body(get_kind, get)) == ErrorCode::kOk);
  CHECK(code(fanout_body(get_kind, "")) == ErrorCode::kMalformed);
  CHECK(code(fanout_body(get_kind, "\xc1")) == ErrorCode::kMalformed);
  CHECK(code(fanout_body(get_kind, get + '\x00')) == ErrorCode::kMalformed);  // trailing bytes
  CHECK(code(fanout_body(get_kind, encode_request(ListRequest{}))) == ErrorCode::kMalformed);
  CHECK(code(fanout_body(get_kind, id_list_body(1, limits::kMaxIdBytes + 1))) == ErrorCode::kTooLarge);
  CHECK(code(fanout_body(get_kind, id_list_body(limits::kMaxBatchTasks + 1, 1))) == ErrorCode::kTooLarge);
  // As str instead of bin, like every single string field.
  std::string as_str = build([&](Packer& p) {
    p.pack_array(4);
    p.pack(uint64_t{7});
    pack_str(p, "tcp://a:1");
    p.pack(get_kind);
    pack_str(p, get);
  });
  auto d = decode_peer(fanout, as_str);
  REQUIRE(d.ok());
  CHECK(std::get<GetRequest>(std::get<Fanout>(d.value()).request).ids == std::vector<std::string>{"a"});
  // A request kind is a u16.
  CHECK(code(build([&](Packer& p) {
          p.pack_array(4);
          p.pack(uint64_t{7});
          pack_str(p, "tcp://a:1");
          p.pack(static_cast<uint32_t>(65536 + get_kind));
          pack_bin(p, get);
        })) == ErrorCode::kMalformed);
}

TEST_CASE("codec: a FanoutReply carries only the answer to a fanout or an error") {
  auto kind = static_cast<uint16_t>(MessageKind::kFanoutReply);
  auto code = [&](const std::string& body) { return decode_peer(kind, body).status().code(); };
  for (const Reply& a : sample_replies()) {
    MessageKind k = reply_kind(a);
    CAPTURE(kind_name(k));
    bool allowed = k == MessageKind::kErrorReply || k == MessageKind::kGetReply || k == MessageKind::kWaitReply ||
                   k == MessageKind::kCancelReply || k == MessageKind::kListReply || k == MessageKind::kRetryReply;
    CHECK(code(fanout_reply_body(static_cast<uint16_t>(k), encode_reply(a))) ==
          (allowed ? ErrorCode::kOk : ErrorCode::kMalformed));
    CHECK(code(encode_peer(FanoutReply{1, "n2", {0}, a})) == (allowed ? ErrorCode::kOk : ErrorCode::kMalformed));
  }
  std::string list = encode_reply(ListReply{{}, false});
  for (uint16_t k : {uint16_t{0}, uint16_t{18}, uint16_t{133}, uint16_t{999}}) {
    CAPTURE(k);
    CHECK(code(fanout_reply_body(k, list)) == ErrorCode::kMalformed);
  }
  auto list_kind = static_cast<uint16_t>(MessageKind::kListReply);
  CHECK(code(fanout_reply_body(list_kind, list)) == ErrorCode::kOk);
  CHECK(code(fanout_reply_body(list_kind, "\x90")) == ErrorCode::kMalformed);
  CHECK(code(fanout_reply_body(list_kind, encode_reply(GetReply{}))) == ErrorCode::kMalformed);
}

TEST_CASE("codec: limits of the routing messages") {
  auto route = static_cast<uint16_t>(MessageKind::kRouteSubmit);
  auto route_reply = static_cast<uint16_t>(MessageKind::kRouteSubmitReply);
  auto fanout_reply = static_cast<uint16_t>(MessageKind::kFanoutReply);
  // Tasks and outcomes: like a submit and its reply.
  RouteSubmit batch{1, "tcp://a:1", 3, std::vector<TaskSpec>(limits::kMaxBatchTasks, sample_spec("t"))};
  CHECK(decode_peer(route, encode_peer(batch)).ok());
  batch.tasks.push_back(sample_spec("t"));
  CHECK(decode_peer(route, encode_peer(batch)).status().code() == ErrorCode::kTooLarge);
  RouteSubmitReply outcomes{1, ErrorCode::kOk, "", std::vector<SubmitOutcome>(limits::kMaxBatchTasks)};
  CHECK(decode_peer(route_reply, encode_peer(outcomes)).ok());
  outcomes.outcomes.emplace_back();
  CHECK(decode_peer(route_reply, encode_peer(outcomes)).status().code() == ErrorCode::kTooLarge);
  // A task of a RouteSubmit is checked like one of a submit.
  RouteSubmit big{1, "tcp://a:1", 3, {sample_spec("t")}};
  big.tasks[0].payload.assign(limits::kMaxPayloadBytes, 'p');
  CHECK(decode_peer(route, encode_peer(big)).ok());
  big.tasks[0].payload += 'p';
  CHECK(decode_peer(route, encode_peer(big)).status().code() == ErrorCode::kTooLarge);
  // Addresses.
  std::string address(limits::kMaxAddressBytes, 'a');
  CHECK(decode_peer(route, encode_peer(RouteSubmit{1, address, 0, {}})).ok());
  CHECK(decode_peer(route, encode_peer(RouteSubmit{1, address + "a", 0, {}})).status().code() ==
        ErrorCode::kTooLarge);
  CHECK(decode_peer(route_reply, encode_peer(RouteSubmitReply{1, ErrorCode::kNotLeader, address, {}})).ok());
  CHECK(decode_peer(route_reply, encode_peer(RouteSubmitReply{1, ErrorCode::kNotLeader, address + "a", {}}))
            .status()
            .code() == ErrorCode::kTooLarge);
  // Partitions covered by one reply: at most 65536, each a u32.
  FanoutReply covered{1, "n2", std::vector<uint32_t>(65536, 7), ListReply{}};
  CHECK(decode_peer(fanout_reply, encode_peer(covered)).ok());
  covered.covered.push_back(7);
  CHECK(decode_peer(fanout_reply, encode_peer(covered)).status().code() == ErrorCode::kTooLarge);
  std::string wide = rewrite(encode_peer(FanoutReply{1, "n2", {7}, ListReply{}}), {2, 0},
                             [](Packer& p, const msgpack::object&) { p.pack(uint64_t{1} << 32); });
  CHECK(decode_peer(fanout_reply, wide).status().code() == ErrorCode::kMalformed);
  // Node and replica ids.
  std::string name(limits::kMaxNameBytes, 'n');
  CHECK(decode_peer(fanout_reply, encode_peer(FanoutReply{1, name, {}, ListReply{}})).ok());
  CHECK(decode_peer(fanout_reply, encode_peer(FanoutReply{1, name + "n", {}, ListReply{}})).status().code() ==
        ErrorCode::kTooLarge);
  auto sync = static_cast<uint16_t>(MessageKind::kSync);
  MemberUpdate u{"n2", "tcp://b:1", 0, MemberState::kAlive, {}, name};
  CHECK(decode_peer(sync, encode_peer(Sync{"n1", "tcp://a:1", false, {u}})).ok());
  u.replica_id += "n";
  CHECK(decode_peer(sync, encode_peer(Sync{"n1", "tcp://a:1", false, {u}})).status().code() == ErrorCode::kTooLarge);
  MembersReply members{"n1", {{"n2", "tcp://b:1", 0, MemberState::kAlive, {}, 0, name + "n"}}};
  CHECK(decode_reply(static_cast<uint16_t>(MessageKind::kMembersReply), encode_reply(members)).status().code() ==
        ErrorCode::kTooLarge);
}

TEST_CASE("codec: the routing kinds are peer kinds with names") {
  const std::vector<std::pair<MessageKind, std::string_view>> kinds = {
      {MessageKind::kRouteSubmit, "route_submit"},
      {MessageKind::kRouteSubmitReply, "route_submit_reply"},
      {MessageKind::kFanout, "fanout"},
      {MessageKind::kFanoutReply, "fanout_reply"},
  };
  for (const auto& [kind, name] : kinds) {
    CAPTURE(name);
    auto id = static_cast<uint16_t>(kind);
    CHECK(is_known_kind(id));
    CHECK(is_peer_kind(id));
    CHECK(kind_name(kind) == name);
    CHECK(decode_reply(id, "\x90").status().code() == ErrorCode::kUnknownMessageType);
  }
  CHECK(static_cast<uint16_t>(MessageKind::kRouteSubmit) == 130);
  CHECK(static_cast<uint16_t>(MessageKind::kFanoutReply) == 133);
  for (uint16_t id : {uint16_t{121}, uint16_t{129}, uint16_t{134}}) CHECK_FALSE(is_known_kind(id));
  // peer_kind follows the variant's order.
  CHECK(peer_kind(RouteSubmit{}) == MessageKind::kRouteSubmit);
  CHECK(peer_kind(RouteSubmitReply{}) == MessageKind::kRouteSubmitReply);
  CHECK(peer_kind(Fanout{}) == MessageKind::kFanout);
  CHECK(peer_kind(FanoutReply{}) == MessageKind::kFanoutReply);
}

TEST_CASE("codec: unknown message kinds") {
  std::string empty_array("\x90", 1);
  std::vector<uint16_t> request_ids, reply_ids;
  for (const auto& q : sample_requests()) request_ids.push_back(static_cast<uint16_t>(request_kind(q)));
  for (const auto& a : sample_replies()) reply_ids.push_back(static_cast<uint16_t>(reply_kind(a)));
  auto contains = [](const std::vector<uint16_t>& v, uint16_t k) {
    return std::find(v.begin(), v.end(), k) != v.end();
  };
  std::vector<uint16_t> kinds;
  for (uint16_t k = 0; k <= 64; ++k) kinds.push_back(k);
  for (uint16_t k : {uint16_t{1000}, uint16_t{32767}, uint16_t{65535}}) kinds.push_back(k);
  for (uint16_t k : kinds) {
    CAPTURE(k);
    if (!contains(request_ids, k)) {
      // Replies, unknown ids: never decoded as a request, whatever the body.
      CHECK(decode_request(k, empty_array).status().code() == ErrorCode::kUnknownMessageType);
      if (!is_known_kind(k)) CHECK(decode_request(k, "\xc1garbage").status().code() == ErrorCode::kUnknownMessageType);
    }
    if (!contains(reply_ids, k)) {
      CHECK(decode_reply(k, empty_array).status().code() == ErrorCode::kUnknownMessageType);
      if (!is_known_kind(k)) CHECK(decode_reply(k, "").status().code() == ErrorCode::kUnknownMessageType);
    }
    CHECK(is_known_kind(k) == (contains(request_ids, k) || contains(reply_ids, k)));
  }
  // A known request body under a reply kind id is not mistaken for a reply.
  std::string get = encode_request(GetRequest{{"a"}});
  CHECK(decode_reply(static_cast<uint16_t>(MessageKind::kGetRequest), get).status().code() ==
        ErrorCode::kUnknownMessageType);
}

TEST_CASE("codec: unknown task state and attempt outcome numbers are malformed") {
  for (uint64_t bad : {uint64_t{kTaskStateCount}, uint64_t{200}, uint64_t{255}, uint64_t{256}, uint64_t{1} << 40}) {
    CAPTURE(bad);
    auto put = [bad](Packer& p, const msgpack::object&) { p.pack(bad); };
    CHECK(decode_record(rewrite(encode_record(sample_record("r")), {2}, put)).status().code() ==
          ErrorCode::kMalformed);
    CHECK(decode_request(static_cast<uint16_t>(MessageKind::kListRequest),
                         rewrite(encode_request(ListRequest{}), {1}, put))
              .status()
              .code() == ErrorCode::kMalformed);
    const Reply submit_reply = sample_replies()[1];
    CHECK(decode_reply(static_cast<uint16_t>(MessageKind::kSubmitReply), rewrite(encode_reply(submit_reply), {0, 0, 4}, put))
              .status()
              .code() == ErrorCode::kMalformed);
    const Reply cancel_reply = sample_replies()[4];
    CHECK(decode_reply(static_cast<uint16_t>(MessageKind::kCancelReply), rewrite(encode_reply(cancel_reply), {0, 1, 2}, put))
              .status()
              .code() == ErrorCode::kMalformed);
    // Attempt outcomes stop at kCancelled = 5.
    auto outcome = [bad](Packer& p, const msgpack::object&) { p.pack(bad + 1); };
    CHECK(decode_record(rewrite(encode_record(sample_record("r")), {13, 0, 4}, outcome)).status().code() ==
          ErrorCode::kMalformed);
  }
  // The largest valid numbers still decode.
  auto last = [](uint64_t v) { return [v](Packer& p, const msgpack::object&) { p.pack(v); }; };
  CHECK(decode_record(rewrite(encode_record(sample_record("r")), {2}, last(kTaskStateCount - 1))).ok());
  CHECK(decode_record(rewrite(encode_record(sample_record("r")), {13, 0, 4}, last(5))).ok());
}

TEST_CASE("codec: unknown error codes in replies pass through") {
  // Codes are only appended; an older client must still read a reply that
  // carries a code added later.
  ErrorReply e{static_cast<ErrorCode>(999), "from the future"};
  auto d = decode_reply(static_cast<uint16_t>(MessageKind::kErrorReply), encode_reply(e));
  REQUIRE(d.ok());
  CHECK(static_cast<uint16_t>(std::get<ErrorReply>(d.value()).code) == 999);
}

TEST_CASE("codec: deeply nested input is rejected without a crash") {
  // A valid message already nests five levels (reply, records, record,
  // attempts, attempt): that depth must keep working.
  CHECK(decode_reply(static_cast<uint16_t>(MessageKind::kGetReply), encode_reply(sample_replies()[2])).ok());

  for (char open : {'\x91', '\x81'}) {  // fixarray(1), fixmap(1) with a nil key
    for (size_t depth : {9, 64, 100000, 1000000}) {
      CAPTURE(depth);
      std::string deep;
      for (size_t i = 0; i < depth; ++i) {
        deep += open;
        if (open == '\x81') deep += '\xc0';  // key, then the nested value
      }
      deep += '\xc0';
      for (const Sample& s : all_samples()) {
        CAPTURE(s.name);
        Status st = s.decode(deep);
        CHECK_FALSE(st.ok());
        CHECK(st.code() != ErrorCode::kOk);
      }
    }
  }
  // The limit is 8 nested containers, the body's own array included.
  auto get_with_nested_extra = [](int extra_depth) {
    std::string body = "\x93\x91\xa1x\x90";  // [["x"], [], <extra>]
    for (int i = 0; i < extra_depth; ++i) body += '\x91';
    return body + '\x01';
  };
  CHECK(decode_request(static_cast<uint16_t>(MessageKind::kGetRequest), get_with_nested_extra(7)).ok());
  CHECK(decode_request(static_cast<uint16_t>(MessageKind::kGetRequest), get_with_nested_extra(8)).status().code() ==
        ErrorCode::kTooLarge);
  // Nesting hidden in an otherwise valid body, in an extra field.
  std::string nest;
  for (int i = 0; i < 32; ++i) nest += '\x91';
  nest += '\x01';
  std::string body = "\x92\x91\xa1x" + nest;  // [["x"], [[[...1]]]]
  Status st = decode_request(static_cast<uint16_t>(MessageKind::kGetRequest), body).status();
  CHECK(st.code() == ErrorCode::kTooLarge);
}

TEST_CASE("codec: huge declared lengths with little data fail without allocating them") {
  // Over msgpack's container limits: refused from the header alone.
  std::string arr_max("\xdd\xff\xff\xff\xff", 5);  // array32 of 4294967295
  std::string map_max("\xdf\xff\xff\xff\xff", 5);
  std::string str_max("\xdb\xff\xff\xff\xff", 5);
  std::string bin_max("\xc6\xff\xff\xff\xff", 5);
  for (const Sample& s : all_samples()) {
    CAPTURE(s.name);
    for (const std::string& in : {arr_max, map_max}) {
      CHECK(s.decode(in).code() == ErrorCode::kTooLarge);
      CHECK(s.decode("\x91" + in).code() == ErrorCode::kTooLarge);
    }
    // msgpack copies a str / bin only once all its bytes are there, so a
    // huge declared length with no bytes is merely truncated.
    for (const std::string& in : {str_max, bin_max}) {
      CHECK(s.decode(in).code() == ErrorCode::kMalformed);
      CHECK(s.decode("\x91" + in).code() == ErrorCode::kMalformed);
    }
  }

  // Within the limits but with no data behind them. Before the codec
  // checked declared sizes against the frame, msgpack allocated the element
  // arrays up front: 2.4 MB for these 5 bytes, ~33 MB for eight nested.
  std::string arr_limit("\xdd\x00\x01\x86\xa0", 5);  // array32 of 100000
  std::string map_limit("\xdf\x00\x00\x10\x00", 5);  // map32 of 4096
  std::string nested;
  for (int i = 0; i < 8; ++i) nested += arr_limit;
  std::string str_limit("\xdb\x00\x10\x00\x00", 5);  // str32 of 1 MiB, no bytes
  for (const Sample& s : all_samples()) {
    CAPTURE(s.name);
    for (const std::string& in : {arr_limit, map_limit, nested, str_limit, "\x91" + arr_limit}) {
      Status st = s.decode(in);
      CHECK(st.code() == ErrorCode::kMalformed);
    }
    Status st = s.decode(nested);
    CHECK(st.message().find("declare") != std::string::npos);  // refused by the size check
  }
  // A batch header claiming the maximum with one task behind it.
  std::string batch = build([](Packer& p) {
    p.pack_array(1);
    p.pack_array(limits::kMaxBatchTasks);
    pack_spec(p, "t", "h", "");
  });
  Status st = decode_request(static_cast<uint16_t>(MessageKind::kSubmitRequest), batch).status();
  CHECK(st.code() == ErrorCode::kMalformed);
  CHECK(st.message().find("declare") != std::string::npos);
}

TEST_CASE("codec: regression inputs") {
  // Found by tests/fuzz/libfuzzer_decoders.cc (-malloc_limit_mb=4) against
  // the codec before it checked declared sizes: these 16 bytes made
  // msgpack::unpack allocate 4 MiB for elements that never arrive.
  const std::string oom("\x98\xdd\x00\x01\x63\xde\x04\x80\x63\xde\x04\x00\x00\x80\x00\x05", 16);
  for (const Sample& s : all_samples()) {
    CAPTURE(s.name);
    Status st = s.decode(oom);
    CHECK(st.code() == ErrorCode::kMalformed);
    CHECK(st.message().find("declare") != std::string::npos);
  }

  // An ext value used to be reported as kTooLarge (unpack's ext limit is 0).
  const std::string ext_sender("\x94\x01\x0a\x00\xd4\x00\x00", 7);  // envelope, fixext1 sender
  CHECK(decode_envelope(ext_sender).status().code() == ErrorCode::kMalformed);

  // Edge cases met while fuzzing; each must fail cleanly, or decode and
  // re-encode stably.
  const std::vector<std::string> inputs = {
      oom,
      ext_sender,
      std::string("\x9e\x9a", 2),              // record: truncated nested spec
      std::string("\x91\xdc\xff\xff", 4),      // array16 of 65535, no items
      std::string("\x92\x90\xc3", 3),          // get_reply: bool where a list goes
      std::string("\x94\x01\x0a\x00\xa0", 5),  // smallest valid envelope
  };
  for (const std::string& in : inputs) {
    for (const Sample& s : all_samples()) {
      CAPTURE(s.name);
      Status st = s.decode(in);
      if (st.ok()) {
        std::string once = s.reencode(in);
        CHECK(s.reencode(once) == once);
      } else {
        CHECK(st.code() != ErrorCode::kOk);
      }
    }
  }
  CHECK(decode_envelope(inputs.back()).ok());
}

}  // namespace
}  // namespace mesh

namespace mesh {
namespace {

std::vector<TaskOp> sample_ops() {
  TaskSpec spec;
  spec.id = "op-task";
  spec.handler = "exec";
  spec.payload = std::string("\x00\x01payload", 9);
  spec.key = "k";
  return {
      OpSubmit{spec, 17, 1000},
      OpLease{"op-task", 3, "node-2", 1001, 11001, 61001},
      OpLease{"op-task", 4, "node-3", 1002, 11002, 61002, true},
      OpRenew{"op-task", 3, 21001},
      OpComplete{"op-task", 3, std::string("out\x00put", 7), 1500},
      OpFail{"op-task", 2, AttemptOutcome::kTimedOut, "timed out after 10 ms", 1400, 1600},
      OpRelease{"op-task", 4, "lease expired", 1700},
      OpCancel{"op-task", 1800},
      OpRetry{"op-task", 1900},
      OpPurge{2000, 1000, 500},
      OpTxnPrepare{"txn-1", 3, 17, {spec}, 2100},
      OpTxnPrepare{"txn-2", 3, 17, {}, 2150, "job-7"},
      OpTxnPrepare{"txn-3", 3, 17, {}, 2160, "", true},
      OpTxnResolve{"txn-1", true, 2200},
      OpTxnDecide{"txn-1", false, {3, 17}, 2300},
      OpTxnDecide{"txn-1", false, {3, 17}, 2310, TxnDecideMode::kStage},
      OpTxnDecide{"txn-1", true, {3, 17}, 2320, TxnDecideMode::kRecovered},
      OpTxnForget{"txn-1"},
      OpTxnForget{"txn-3", true},
  };
}

TEST_CASE("codec: task ops round trip as log entries") {
  for (const TaskOp& op : sample_ops()) {
    CAPTURE(op.index());
    std::string bytes = encode_op(op);
    auto decoded = decode_op(bytes);
    REQUIRE_MESSAGE(decoded.ok(), decoded.status().message());
    CHECK(decoded.value() == op);
    for (size_t cut = 0; cut < bytes.size(); ++cut) CHECK_FALSE(decode_op(bytes.substr(0, cut)).ok());
  }
  // An op kind nobody knows is malformed, not a crash.
  std::string unknown("\x91\x63", 2);  // [99]
  CHECK(decode_op(unknown).status().code() == ErrorCode::kMalformed);
  CHECK(decode_op(std::string("\x90", 1)).status().code() == ErrorCode::kMalformed);  // []
  // A purge bound past the limit would make one entry remove without end.
  CHECK(decode_op(encode_op(OpPurge{1, 1, limits::kMaxPurgeRecords + 1})).status().code() == ErrorCode::kMalformed);
}

TEST_CASE("codec: an op batch is its ops in order; one op is written as itself; batches never nest") {
  std::vector<TaskOp> ops = sample_ops();
  std::vector<std::string> encoded;
  for (const auto& op : ops) encoded.push_back(encode_op(op));
  std::string bytes = encode_op_batch(encoded);
  auto decoded = decode_ops(bytes);
  REQUIRE_MESSAGE(decoded.ok(), decoded.status().message());
  CHECK(decoded.value() == ops);
  for (size_t cut = 0; cut < bytes.size(); ++cut) CHECK_FALSE(decode_ops(bytes.substr(0, cut)).ok());
  // A single op needs no batch: nodes that read one op per entry read it.
  CHECK(encode_op_batch({encoded.front()}) == encoded.front());
  auto one = decode_ops(encoded.front());
  REQUIRE(one.ok());
  CHECK(one.value() == std::vector<TaskOp>{ops.front()});
  CHECK(decode_op(bytes).status().code() == ErrorCode::kMalformed);  // kind 15 is no single op
  // [15] and [15, op] are malformed; so is a batch inside a batch.
  CHECK(decode_ops(std::string("\x91\x0f", 2)).status().code() == ErrorCode::kMalformed);
  CHECK(decode_ops(std::string("\x92\x0f", 2) + encoded.front()).status().code() == ErrorCode::kMalformed);
  CHECK(decode_ops(encode_op_batch({encoded[0], bytes})).status().code() == ErrorCode::kMalformed);
  // One op that does not decode fails the whole entry.
  std::string bad = encode_op(OpPurge{1, 1, limits::kMaxPurgeRecords + 1});
  CHECK(decode_ops(encode_op_batch({encoded[0], bad})).status().code() == ErrorCode::kMalformed);
}

TEST_CASE("codec: a partition snapshot round trips") {
  std::vector<TaskRecord> records = {sample_record("s1"), sample_record("s2")};
  auto decoded = decode_snapshot(encode_snapshot(PartitionSnapshot{records, {}, {}}));
  REQUIRE(decoded.ok());
  CHECK(decoded.value().records == records);
  CHECK(decode_snapshot(encode_snapshot(PartitionSnapshot{})).value().records.empty());
  CHECK_FALSE(decode_snapshot(encode_op(sample_ops()[0])).ok());
}

TEST_CASE("codec: a snapshot point round trips, with learners only when it has any") {
  SnapshotMeta plain{7, 2, {"a", "b"}};
  SnapshotMeta with_learner{7, 2, {"a", "b"}, {"c"}};
  CHECK(decode_snapshot_meta(encode_snapshot_meta(plain)).value() == plain);
  CHECK(decode_snapshot_meta(encode_snapshot_meta(with_learner)).value() == with_learner);
  CHECK(encode_snapshot_meta(plain).size() < encode_snapshot_meta(with_learner).size());
}

TEST_CASE("codec: a snapshot of any record count or size decodes; a record at every limit round trips") {
  SUBCASE("150,000 small records, past any frame's item limit") {
    std::vector<TaskRecord> records;
    for (int i = 0; i < 150000; ++i) {
      TaskRecord r;
      r.spec.id = "t" + std::to_string(i);
      r.spec.handler = "noop";
      records.push_back(std::move(r));
    }
    auto decoded = decode_snapshot(encode_snapshot(PartitionSnapshot{records, {}, {}}));
    REQUIRE_MESSAGE(decoded.ok(), decoded.status().message());
    CHECK(decoded.value().records == records);
  }
  SUBCASE("40 records of 1 MiB payload and 1 MiB result, far past one frame") {
    std::vector<TaskRecord> records;
    for (int i = 0; i < 40; ++i) {
      TaskRecord r = sample_record("big" + std::to_string(i));
      r.spec.payload.assign(limits::kMaxPayloadBytes, static_cast<char>('a' + i % 26));
      r.result.assign(limits::kMaxPayloadBytes, 'r');
      r.error.assign(limits::kMaxErrorBytes, 'e');
      r.spec.id.assign(limits::kMaxIdBytes, static_cast<char>('A' + i % 26));
      r.spec.key.assign(limits::kMaxIdBytes, 'k');
      r.attempts.assign(limits::kMaxAttemptHistory, AttemptInfo{});
      for (auto& a : r.attempts) {
        a.runner.assign(limits::kMaxNameBytes, 'n');
        a.error.assign(limits::kMaxErrorBytes, 'x');
      }
      records.push_back(std::move(r));
    }
    std::string bytes = encode_snapshot(PartitionSnapshot{records, {}, {}});
    CHECK(bytes.size() > 2 * limits::kMaxFrameBytes);
    auto decoded = decode_snapshot(bytes);
    REQUIRE_MESSAGE(decoded.ok(), decoded.status().message());
    CHECK(decoded.value().records == records);
    // Cut anywhere, it is refused: never a shorter table.
    for (size_t cut : {size_t{1}, bytes.size() / 2, bytes.size() - 1}) CHECK_FALSE(decode_snapshot(bytes.substr(0, cut)).ok());
  }
  SUBCASE("a snapshot written as one array of records (before format 2) still decodes") {
    std::vector<TaskRecord> records = {sample_record("old1"), sample_record("old2")};
    std::string whole = encode_snapshot(PartitionSnapshot{records, {}, {}});
    std::string body = whole.substr(3);  // drop the header [2, 2]
    auto decoded = decode_snapshot("\x92" + body);
    REQUIRE_MESSAGE(decoded.ok(), decoded.status().message());
    CHECK(decoded.value().records == records);
  }
  SUBCASE("a count that claims more records than there are bytes") {
    std::string bytes = encode_snapshot(PartitionSnapshot{{sample_record("one")}, {}, {}});
    bytes[2] = '\x7f';  // the header's count: 1 -> 127
    CHECK_FALSE(decode_snapshot(bytes).ok());
  }
}

}  // namespace
}  // namespace mesh
