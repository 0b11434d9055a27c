// Deterministic mutation fuzzing of every wire decoder, run as an ordinary
// doctest case. Starts from valid encodings of every message kind (client
// and node-to-node), the envelope, task ops, a task record and what the store
// holds (log entries, hard state, snapshot metadata and snapshots), stacks
// random mutations on them and feeds the result to decode_envelope,
// decode_op, decode_record, decode_request, decode_reply, decode_peer and the
// store's decoders.
//
// Checked for every input:
//   - no exception escapes a decoder (and no crash: the sanitizer build runs
//     this too);
//   - a failed decode carries an error code other than kOk;
//   - a successful decode is idempotent: re-encoding and decoding again
//     gives the same bytes, and the decoded variant matches the kind.
//
// The run is reproducible from its seed, printed with any failure. Set
// MESH_FUZZ_SEED and/or MESH_FUZZ_ITERATIONS to explore further (and
// MESH_FUZZ_TRACE=1 to print every input to stderr before it is decoded), e.g.
//   MESH_FUZZ_SEED=7 MESH_FUZZ_ITERATIONS=5000000 ./mesh_tests -tc='decoder fuzz*'
// For coverage-guided fuzzing see libfuzzer_decoders.cc.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/codec.h"
#include "protocol/limits.h"

namespace mesh {
namespace {

constexpr uint64_t kDefaultSeed = 0x6d657368'776f726bull;  // "meshwork"
constexpr uint64_t kDefaultIterations = 200000;
constexpr uint16_t kMaxKindTried = 30;   // request / reply kinds 0..30 cover all known ids
constexpr size_t kMaxInputBytes = 8192;  // keeps mutants small and the run fast

uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 0);
}

// splitmix64: tiny, fast and the same on every platform (unlike the
// distributions of <random>).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform enough in [0, n) for n > 0.
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
  bool chance(unsigned one_in) { return below(one_in) == 0; }
  char byte() { return static_cast<char>(next() & 0xff); }

 private:
  uint64_t state_;
};

// --- seeds ------------------------------------------------------------------

TaskSpec spec(const std::string& id, int32_t priority) {
  TaskSpec t;
  t.id = id;
  t.handler = "exec";
  t.payload = std::string("{\"cmd\":[\"true\"]}\0\xff", 18);
  t.priority = priority;
  t.max_attempts = 4;
  t.backoff_base_ms = 50;
  t.backoff_max_ms = 5000;
  t.timeout_ms = 90000;
  t.key = id.empty() ? "" : "k-" + id;
  t.stealable = priority % 2 == 0;
  return t;
}

TaskRecord record(const std::string& id) {
  TaskRecord r;
  r.spec = spec(id, -3);
  r.partition = 5;
  r.state = TaskState::kLeased;
  r.attempt = 2;
  r.failures = 1;
  r.lease_owner = "node-a";
  r.lease_deadline_ms = 1700000001000;
  r.timeout_at_ms = 1700000002000;
  r.not_before_ms = 0;
  r.submitted_ms = 1700000000000;
  r.finished_ms = 0;
  r.result = "";
  r.error = "exit status 1";
  r.attempts = {{1, "node-a", 1, 2, AttemptOutcome::kFailed, "exit status 1"},
                {2, "node-a", 3, 0, AttemptOutcome::kRunning, ""}};
  return r;
}

struct Seed {
  std::string bytes;
  uint16_t kind;         // native message kind; 0 for the envelope, ops, records and stored state
  bool stored = false;  // a log entry, hard state, snapshot meta or snapshot (counted apart)
};

std::vector<Seed> seeds() {
  std::vector<Seed> out;
  auto req = [&](const Request& q) { out.push_back({encode_request(q), static_cast<uint16_t>(request_kind(q))}); };
  auto rep = [&](const Reply& a) { out.push_back({encode_reply(a), static_cast<uint16_t>(reply_kind(a))}); };
  req(SubmitRequest{{spec("t1", 0), spec("", 7), spec("t3", -1)}});
  req(SubmitRequest{});
  req(GetRequest{{"t1", "t2"}});
  req(WaitRequest{{"t1"}, false, 1000});
  req(WaitRequest{{}, true, 0});
  req(CancelRequest{{"t3"}});
  req(ListRequest{true, TaskState::kPending, 50, ""});
  req(ListRequest{false, TaskState::kCancelled, 1, "t1"});
  req(StatsRequest{});
  rep(ErrorReply{ErrorCode::kUnsupportedVersion, "node speaks protocol version 1"});
  rep(SubmitReply{{{"t1", ErrorCode::kOk, "", false, TaskState::kPending},
                   {"t2", ErrorCode::kConflict, "task id reused", false, TaskState::kPending}}});
  rep(GetReply{{record("t1")}, {"t9"}});
  rep(WaitReply{false, {record("t1"), record("t2")}, {}, 3});
  rep(CancelReply{{{"t3", ErrorCode::kOk, TaskState::kCancelled}}});
  rep(ListReply{{record("t1")}, false});
  StatsReply st;
  st.node_id = "node-a";
  st.counters = {{"tasks_submitted", 3}, {"tasks_completed", 1}};
  st.gauges = {{"running", 1}, {"skew", -4}};
  st.histograms = {{"run_ms", {3, 30, 10, 12, 12, 12}}};
  rep(st);
  rep(MembersReply{"node-a", {{"node-a", "tcp://h:1", 2, MemberState::kSuspect, {1, 2, 3, 4}, 9, "node-a#2"}}});
  rep(PartitionsReply{"node-a", 1, 1, 42, {{0, {"node-a"}}}, {{"node-a", 1, 1, 1000000}},
                      {{0, "leader", 3, "node-a#2", 7, 7, 8, {"node-a#2", "node-b#1"}, {{"node-b#1", 1}}}}});
  req(MembersRequest{});
  req(PartitionsRequest{});
  auto peer = [&](const PeerMessage& m) { out.push_back({encode_peer(m), static_cast<uint16_t>(peer_kind(m))}); };
  std::vector<MemberUpdate> updates = {{"node-b", "tcp://h:2", 1, MemberState::kDead, {0, 1, 0, 5}, "node-b#3"},
                                       {"node-c", "tcp://h:3", 0, MemberState::kAlive, {}, ""}};
  peer(Ping{1, "node-a", "tcp://h:1", "node-b", updates});
  peer(PingReq{2, "node-a", "tcp://h:1", "node-c", "tcp://h:3", updates});
  peer(Ack{1, "node-b", "tcp://h:2", false, {}});
  peer(Sync{"node-a", "tcp://h:1", false, updates});
  peer(StealRequest{"node-b", "tcp://h:2", 3});
  peer(StealGrant{"node-a", "tcp://h:1", {{"t1", 1, "sleep", "5", 100, 3}}});
  peer(LeaseRenewal{"node-b", {{"t1", 1, 3}}, "tcp://h:2"});
  peer(StolenResult{"node-b", "tcp://h:2", "t1", 1, false, "boom", 3});
  peer(StolenResultAck{"t1", 1, true, 3});
  peer(LeaderHints{"tcp://h:1", {{3, false, "tcp://h:3"}, {4, true, ""}}});
  peer(RaftBatch{"node-a",
                 {Heartbeat{1, 2, "node-a", "node-b", 5, 1},
                  AppendRequest{1, 2, "node-a", "node-b", 4, 1, 3, {LogEntry{5, 2, EntryType::kNormal, "op", {}}}},
                  VoteRequest{2, 3, "node-b", "node-a", 7, 2, true, false}}});
  // Routing: a Fanout nests a request, a FanoutReply a reply (kind + body).
  // Their ids are not op kinds (1 … 7), so that no seed also decodes as a task op.
  peer(RouteSubmit{25, "tcp://h:1", 3, {spec("t1", 0), spec("", 7)}});
  peer(RouteSubmitReply{25, ErrorCode::kOk, "", {{"t1", ErrorCode::kOk, "", false, TaskState::kPending}}});
  peer(RouteSubmitReply{26, ErrorCode::kNotLeader, "tcp://h:2", {}});
  peer(Fanout{17, "tcp://h:1", GetRequest{{"t1", "t2"}}});
  peer(Fanout{18, "tcp://h:1", WaitRequest{{"t1"}, false, 1000}});
  peer(Fanout{19, "tcp://h:1", CancelRequest{{"t3"}}});
  peer(Fanout{20, "tcp://h:1", ListRequest{false, TaskState::kCancelled, 1, "t1"}});
  peer(FanoutReply{17, "node-b", {0, 2}, GetReply{{record("t1")}, {"t9"}}});
  peer(FanoutReply{18, "node-b", {1}, WaitReply{false, {record("t1")}, {}, 3}});
  peer(FanoutReply{19, "node-c", {}, CancelReply{{{"t3", ErrorCode::kOk, TaskState::kCancelled}}}});
  peer(FanoutReply{20, "node-c", {4, 5}, ListReply{{record("t1")}, true}});
  peer(FanoutReply{21, "node-c", {}, ErrorReply{ErrorCode::kShuttingDown, "draining"}});
  out.push_back({encode_op(OpSubmit{spec("op-1", 2), 5, 77}), 0});
  out.push_back({encode_op(OpFail{"op-1", 2, AttemptOutcome::kFailed, "boom", 80, 90}), 0});
  out.push_back({encode_op(OpLease{"op-1", 3, "node-a", 91, 100, 200}), 0});
  out.push_back({encode_envelope(Envelope{kProtocolVersion, 10, 77, "meshctl"}), 0});
  out.push_back({encode_envelope(Envelope{kProtocolVersion, 13, 0, ""}), 0});
  out.push_back({encode_record(record("r1")), 0});
  out.push_back({encode_record(TaskRecord{}), 0});
  out.push_back({encode_log_entry(LogEntry{7, 3, EntryType::kNormal, encode_op(OpSubmit{spec("op-2", 1), 5, 77}), {}}), 0,
                 true});
  out.push_back({encode_log_entry(LogEntry{8, 3, EntryType::kConfig, "", {"a#1", "b#2"}, {"c#3"}}), 0, true});
  out.push_back({encode_hard_state(HardState{4, "a#1", 9}), 0, true});
  out.push_back({encode_snapshot_meta(SnapshotMeta{9, 4, {"a#1", "b#2"}, {}}), 0, true});
  out.push_back({encode_snapshot(PartitionSnapshot{{record("s1"), record("s2")}, {}, {}}), 0, true});
  out.push_back({encode_ops({OpLease{"op-1", 3, "node-a", 91, 100, 200}, OpComplete{"op-1", 3, "ok", 95}}), 0, true});
  return out;
}

// --- mutations --------------------------------------------------------------

const char kInteresting[] = {'\x00', '\x01', '\x7f', '\x80', '\x8f', '\x90', '\x9f', '\xa0', '\xbf', '\xc0',
                             '\xc1', '\xc2', '\xc3', '\xc4', '\xc5', '\xc6', '\xc7', '\xca', '\xcb', '\xcc',
                             '\xcd', '\xce', '\xcf', '\xd0', '\xd3', '\xd4', '\xd9', '\xda', '\xdb', '\xdc',
                             '\xdd', '\xde', '\xdf', '\xe0', '\xff'};

// A length chosen to hit limits: small, around a limit, or huge.
uint32_t pick_length(Rng& rng) {
  static const uint32_t special[] = {0, 1, 2, 9, 10, 14, 15, 16, 31, 32, 255, 256, 257, 400, 401, 4096, 4097,
                                     10000, 10001, 65535, 65536, 100000, 100001, 1u << 20, (1u << 20) + 1,
                                     0x7fffffff, 0xffffffff};
  if (rng.chance(2)) return special[rng.below(std::size(special))];
  return static_cast<uint32_t>(rng.next() >> (32 + rng.below(32)));
}

void put_be(std::string& s, size_t at, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) s.insert(s.begin() + static_cast<std::ptrdiff_t>(at++), static_cast<char>(v >> (8 * i)));
}

// Writes a msgpack header (container, string or integer) with a chosen
// length or value at a random position, replacing one byte.
void put_header(std::string& s, Rng& rng) {
  size_t at = s.empty() ? 0 : rng.below(s.size());
  if (!s.empty()) s.erase(at, 1);
  uint32_t n = pick_length(rng);
  switch (rng.below(10)) {
    case 0: s.insert(at, 1, static_cast<char>(0x90 | (n & 0x0f))); break;  // fixarray
    case 1: s.insert(at, 1, '\xdc'); put_be(s, at + 1, n, 2); break;         // array16
    case 2: s.insert(at, 1, '\xdd'); put_be(s, at + 1, n, 4); break;         // array32
    case 3: s.insert(at, 1, '\xde'); put_be(s, at + 1, n, 2); break;         // map16
    case 4: s.insert(at, 1, '\xdf'); put_be(s, at + 1, n, 4); break;         // map32
    case 5: s.insert(at, 1, '\xd9'); put_be(s, at + 1, n, 1); break;         // str8
    case 6: s.insert(at, 1, '\xdb'); put_be(s, at + 1, n, 4); break;         // str32
    case 7: s.insert(at, 1, '\xc6'); put_be(s, at + 1, n, 4); break;         // bin32
    case 8: s.insert(at, 1, '\xcf'); put_be(s, at + 1, rng.next(), 8); break;  // uint64
    default: s.insert(at, 1, '\xd3'); put_be(s, at + 1, rng.next() | (1ull << 63), 8); break;  // negative int64
  }
}

void mutate(std::string& s, Rng& rng, const std::vector<Seed>& pool) {
  switch (rng.below(12)) {
    case 0:  // flip one bit
      if (!s.empty()) s[rng.below(s.size())] ^= static_cast<char>(1 << rng.below(8));
      break;
    case 1:  // overwrite a byte with a random one
      if (!s.empty()) s[rng.below(s.size())] = rng.byte();
      break;
    case 2:  // overwrite a byte with a msgpack type / boundary byte
      if (!s.empty()) s[rng.below(s.size())] = kInteresting[rng.below(sizeof kInteresting)];
      break;
    case 3:  // nudge a byte: fixarray / fixstr counts, small ints, enum values
      if (!s.empty()) s[rng.below(s.size())] += rng.chance(2) ? 1 : -1;
      break;
    case 4:  // truncate to a random length
      s.resize(s.empty() ? 0 : rng.below(s.size()));
      break;
    case 5: {  // insert 1..16 random bytes
      size_t at = s.empty() ? 0 : rng.below(s.size() + 1);
      size_t n = 1 + rng.below(16);
      std::string junk;
      for (size_t i = 0; i < n; ++i) junk += rng.chance(2) ? rng.byte() : kInteresting[rng.below(sizeof kInteresting)];
      s.insert(at, junk);
      break;
    }
    case 6:  // erase a range
      if (!s.empty()) {
        size_t at = rng.below(s.size());
        s.erase(at, 1 + rng.below(s.size() - at));
      }
      break;
    case 7: {  // splice: a prefix of this one, a suffix of another message
      const std::string& other = pool[rng.below(pool.size())].bytes;
      size_t cut = s.empty() ? 0 : rng.below(s.size() + 1);
      size_t from = rng.below(other.size() + 1);
      s = s.substr(0, cut) + other.substr(from);
      break;
    }
    case 8: {  // insert a whole other message somewhere (nested / appended)
      const std::string& other = pool[rng.below(pool.size())].bytes;
      s.insert(s.empty() ? 0 : rng.below(s.size() + 1), other);
      break;
    }
    case 9:  // duplicate a chunk of itself
      if (!s.empty()) {
        size_t at = rng.below(s.size());
        std::string chunk = s.substr(at, 1 + rng.below(s.size() - at));
        s.insert(rng.below(s.size() + 1), chunk);
      }
      break;
    case 10:  // random lengths and values in headers
      put_header(s, rng);
      break;
    default:  // append: a trailing field or trailing bytes
      s += rng.chance(2) ? '\xc0' : kInteresting[rng.below(sizeof kInteresting)];
      break;
  }
  if (s.size() > kMaxInputBytes) s.resize(kMaxInputBytes);
}

std::string hex64(uint64_t v) {
  static const char digits[] = "0123456789abcdef";
  std::string out = "0x";
  for (int shift = 60; shift >= 0; shift -= 4) out += digits[(v >> shift) & 15];
  return out;
}

std::string hex(std::string_view s) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s.substr(0, 512)) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  if (s.size() > 512) out += "...";
  return out;
}

// --- checks -----------------------------------------------------------------

struct Stats {
  uint64_t decodes = 0;
  uint64_t accepted = 0;
  uint64_t failures = 0;
  uint64_t stored_accepted = 0;  // by the store's decoders
};

// What went wrong with one decoder on one input; empty when all is well.
template <typename T, typename Redecode, typename Encode>
std::string check_result(const Result<T>& r, Redecode&& redecode, Encode&& encode, Stats& stats) {
  ++stats.decodes;
  if (!r.ok()) return r.status().code() == ErrorCode::kOk ? "failed with code kOk" : "";
  ++stats.accepted;
  std::string once = encode(r.value());
  auto again = redecode(once);
  if (!again.ok()) return "re-encoding does not decode: " + again.status().message();
  if (encode(again.value()) != once) return "re-encoding is not stable";
  return "";
}

// The store's decoders; their acceptances count in `stored`.
std::string check_stored(std::string_view in, Stats& stored) {
  std::string problem;
  auto note = [&](const std::string& what, const std::string& p) {
    if (!p.empty() && problem.empty()) problem = what + ": " + p;
  };
  note("decode_log_entry", check_result(
                               decode_log_entry(in), [](std::string_view b) { return decode_log_entry(b); },
                               [](const LogEntry& e) { return encode_log_entry(e); }, stored));
  note("decode_hard_state", check_result(
                                decode_hard_state(in), [](std::string_view b) { return decode_hard_state(b); },
                                [](const HardState& h) { return encode_hard_state(h); }, stored));
  note("decode_snapshot_meta",
       check_result(
           decode_snapshot_meta(in), [](std::string_view b) { return decode_snapshot_meta(b); },
           [](const SnapshotMeta& m) { return encode_snapshot_meta(m); }, stored));
  note("decode_snapshot", check_result(
                              decode_snapshot(in), [](std::string_view b) { return decode_snapshot(b); },
                              [](const PartitionSnapshot& s) { return encode_snapshot(s); }, stored));
  // A log entry's data: one op or a batch of them.
  note("decode_ops", check_result(
                         decode_ops(in), [](std::string_view b) { return decode_ops(b); },
                         [](const std::vector<TaskOp>& ops) { return encode_ops(ops); }, stored));
  return problem;
}

std::string check_all(std::string_view in, uint16_t native_kind, uint16_t extra_kind, Stats& stats) {
  std::string problem;
  auto note = [&](const std::string& what, const std::string& p) {
    if (!p.empty() && problem.empty()) problem = what + ": " + p;
  };
  try {
    Stats stored;
    note("stored state", check_stored(in, stored));
    stats.stored_accepted += stored.accepted;
    note("decode_envelope", check_result(
                                decode_envelope(in), [](std::string_view b) { return decode_envelope(b); },
                                [](const Envelope& e) { return encode_envelope(e); }, stats));
    note("decode_op", check_result(
                          decode_op(in), [](std::string_view b) { return decode_op(b); },
                          [](const TaskOp& op) { return encode_op(op); }, stats));
    note("decode_record", check_result(
                              decode_record(in), [](std::string_view b) { return decode_record(b); },
                              [](const TaskRecord& r) { return encode_record(r); }, stats));
    for (uint16_t kind : {native_kind, extra_kind}) {
      auto req = decode_request(kind, in);
      if (req.ok() && static_cast<uint16_t>(request_kind(req.value())) != kind) {
        note("decode_request(" + std::to_string(kind) + ")", "decoded to another kind");
      }
      note("decode_request(" + std::to_string(kind) + ")",
           check_result(
               req, [kind](std::string_view b) { return decode_request(kind, b); },
               [](const Request& q) { return encode_request(q); }, stats));
      auto rep = decode_reply(kind, in);
      if (rep.ok() && static_cast<uint16_t>(reply_kind(rep.value())) != kind) {
        note("decode_reply(" + std::to_string(kind) + ")", "decoded to another kind");
      }
      note("decode_reply(" + std::to_string(kind) + ")",
           check_result(
               rep, [kind](std::string_view b) { return decode_reply(kind, b); },
               [](const Reply& a) { return encode_reply(a); }, stats));
      auto peer = decode_peer(kind, in);
      if (peer.ok() && static_cast<uint16_t>(peer_kind(peer.value())) != kind) {
        note("decode_peer(" + std::to_string(kind) + ")", "decoded to another kind");
      }
      note("decode_peer(" + std::to_string(kind) + ")",
           check_result(
               peer, [kind](std::string_view b) { return decode_peer(kind, b); },
               [](const PeerMessage& m) { return encode_peer(m); }, stats));
    }
  } catch (const std::exception& e) {
    note("decoder", std::string("exception escaped: ") + e.what());
  } catch (...) {
    note("decoder", "unknown exception escaped");
  }
  return problem;
}

TEST_CASE("decoder fuzz: valid seeds decode") {
  Stats stats;
  for (const Seed& s : seeds()) {
    CHECK(check_all(s.bytes, s.kind, s.kind, stats) == "");
  }
  // Every request and reply seed decodes under its own kind.
  uint64_t expected_ok = 0;
  uint64_t stored_seeds = 0;
  for (const Seed& s : seeds()) {
    expected_ok += s.stored ? 0 : s.kind != 0 ? 2 : 1;
    stored_seeds += s.stored;
  }
  CHECK(stats.accepted == expected_ok);
  // Each stored seed decodes under its own decoder (and maybe another's).
  CHECK(stats.stored_accepted >= stored_seeds);
}

TEST_CASE("decoder fuzz: mutated frames never crash and fail cleanly") {
  const uint64_t seed = env_u64("MESH_FUZZ_SEED", kDefaultSeed);
  const uint64_t iterations = env_u64("MESH_FUZZ_ITERATIONS", kDefaultIterations);
  const bool trace = env_u64("MESH_FUZZ_TRACE", 0) != 0;
  // Printed first, so that it is on the screen even if a decoder crashes;
  // rerun with MESH_FUZZ_TRACE=1 to see the input that crashed.
  MESSAGE("decoder fuzz: seed=" << hex64(seed) << " iterations=" << iterations
                                << " (set MESH_FUZZ_SEED, MESH_FUZZ_ITERATIONS, MESH_FUZZ_TRACE=1)");
  const std::vector<Seed> pool = seeds();
  Rng rng(seed);
  Stats stats;
  // Mutants that still decode somewhere are kept (a bounded, deterministic
  // stand-in for coverage feedback) so mutations can go deeper.
  std::vector<Seed> kept;
  constexpr size_t kMaxKept = 512;

  for (uint64_t i = 0; i < iterations; ++i) {
    bool from_kept = !kept.empty() && rng.chance(3);
    const Seed base = from_kept ? kept[rng.below(kept.size())] : pool[rng.below(pool.size())];
    std::string input = base.bytes;
    uint16_t native = base.kind;
    if (rng.chance(64)) {  // now and then, pure noise of a random length
      input.clear();
      size_t n = rng.below(rng.chance(8) ? 2048 : 64);
      for (size_t j = 0; j < n; ++j) input += rng.byte();
    } else {
      int rounds = 1 + static_cast<int>(rng.below(rng.chance(4) ? 16 : 4));
      for (int r = 0; r < rounds; ++r) mutate(input, rng, pool);
    }
    // Every kind id 0..30 in turn, besides the seed's own kind.
    uint16_t extra = static_cast<uint16_t>(i % (kMaxKindTried + 1));
    if (native == 0) native = static_cast<uint16_t>(rng.below(kMaxKindTried + 1));

    if (trace) {  // the last line before a crash names the input that caused it
      std::fprintf(stderr, "iteration=%llu kinds=%u,%u input=%s\n", static_cast<unsigned long long>(i), native, extra,
                   hex(input).c_str());
      std::fflush(stderr);
    }
    uint64_t accepted_before = stats.accepted;
    std::string problem = check_all(input, native, extra, stats);
    if (!problem.empty()) {
      ++stats.failures;
      FAIL_CHECK("decoder fuzz failure: " << problem << "\n  seed=" << hex64(seed) << " iteration=" << i << " kinds=" << native << "," << extra
                                          << "\n  input(" << input.size() << " bytes)=" << hex(input));
      if (stats.failures >= 10) break;
    }
    if (stats.accepted > accepted_before && input != base.bytes) {
      if (kept.size() < kMaxKept) {
        kept.push_back({input, base.kind});
      } else {
        kept[rng.below(kMaxKept)] = {input, base.kind};
      }
    }
  }
  MESSAGE("decoder fuzz: " << stats.decodes << " decodes, " << stats.accepted << " accepted");
  CHECK(stats.failures == 0);
  // The mutator must not be so destructive that nothing ever decodes.
  CHECK(stats.accepted > iterations / 100);
}

}  // namespace
}  // namespace mesh
