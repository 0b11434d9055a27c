// The order in which a loop turn's output leaves the node: nothing a synced
// write may be needed for (a reply, a vote, an append acknowledgement, a
// grant) leaves before that write returns, and nothing at all leaves once a
// write has failed. Checked with a recording store and recording outlets.
#include "node/runtime/turn_output.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace mesh {
namespace {

using Log = std::vector<std::string>;

// What every recording fake shares: the log it writes each call to.
class Recorder {
 public:
  explicit Recorder(Log& log) : log_(log) {}

 protected:
  Log& log_;
};

class RecordingStore final : public Storage, Recorder {
 public:
  using Recorder::Recorder;
  Status write(const WriteBatch& batch, bool sync) override {
    log_.push_back("write " + std::to_string(batch.ops().size()) + (sync ? " synced" : " unsynced"));
    return fail ? Status(ErrorCode::kStorageError, "disk gone") : Status::Ok();
  }
  Status scan(std::string_view, const std::function<void(std::string_view, std::string_view)>&) override {
    return Status::Ok();
  }
  bool fail = false;
};

class RecordingPeers final : public PeerOutlet, Recorder {
 public:
  using Recorder::Recorder;
  bool send(const std::string& address, const std::string&, const std::string&) override {
    log_.push_back("send " + address);
    return true;
  }
  bool disconnect(const std::string& address) override {
    log_.push_back("disconnect " + address);
    return true;
  }
};

class RecordingReplies final : public ReplyOutlet, Recorder {
 public:
  using Recorder::Recorder;
  void send(const std::string& client, const std::string&, const std::string&) override {
    log_.push_back("reply " + client);
  }
};

class RecordingRuns final : public RunOutlet, Recorder {
 public:
  using Recorder::Recorder;
  void start(RunTask run) override { log_.push_back("start " + run.id); }
  void abort(const RunRef& run) override { log_.push_back("abort " + run.id); }
};

struct Fixture {
  Log log;
  RecordingStore store{log};
  RecordingPeers peers{log};
  RecordingReplies replies{log};
  RecordingRuns runs{log};
  TurnOutput output{store, peers, "n1"};
  // Unattached: as a node is before it serves (no socket, no executor yet).
  explicit Fixture(bool attached = true) {
    if (attached) output.attach(&replies, &runs);
  }
};

// One step's worth of everything: a log entry and hard state to persist, a
// reply, a message that promises what was written (a transaction vote), a
// released address, an abort and a new run.
Effects one_step(RequestRef request) {
  Effects fx;
  Ready ready;
  ready.entries.push_back(LogEntry{7, 2, EntryType::kNormal, "op", {}, {}});
  ready.hard_state = HardState{2, "n1#a", 6};
  ready.must_sync = true;
  fx.raft_writes.push_back(RaftWrite{3, std::move(ready)});
  fx.replies.push_back(AddressedReply{request, SubmitReply{}});
  fx.sends.push_back(OutgoingPeerMessage{"tcp://b", TxnReply{TxnStep::kPrepare, 1, "x1", 5, ErrorCode::kOk, "", true, {}}});
  fx.disconnects.push_back("tcp://gone");
  fx.aborts.push_back(AbortRun{"old", 1, 3});
  fx.runs.push_back(RunTask{"new", 1, "sleep", "1", 1000, 3});
  return fx;
}

TEST_CASE("turn output: a turn that only moved commit indexes is written without a sync") {
  Fixture f;
  Effects fx;
  Ready ready;
  ready.hard_state = HardState{2, "n1#a", 7};  // must_sync false: the commit index alone moved
  fx.raft_writes.push_back(RaftWrite{3, std::move(ready)});
  fx.sends.push_back(OutgoingPeerMessage{"tcp://b", TxnReply{TxnStep::kResolve, 1, "x1", 5, ErrorCode::kOk, "", true, {}}});
  f.output.add(fx);
  REQUIRE(f.output.flush().ok());
  CHECK(f.log == Log{"write 1 unsynced", "send tcp://b"});
  CHECK(f.output.sync_us().count() == 0);
}

TEST_CASE("turn output: requests that promise nothing written, and a leader's appends, leave before the write") {
  Fixture f;
  f.output.expect_reply(5, {"client-1", 42});
  Effects fx = one_step(5);
  fx.sends.push_back(OutgoingPeerMessage{"tcp://probe", Ping{1, "n1", "tcp://a", "n2", {}}});
  AppendRequest append;
  append.group = 3;
  fx.sends.push_back(OutgoingPeerMessage{"tcp://follower", RaftBatch{"n1", {append}}});
  AppendResponse ack;
  ack.group = 4;
  fx.sends.push_back(OutgoingPeerMessage{"tcp://leader", RaftBatch{"n1", {ack}}});
  f.output.add(fx);
  REQUIRE(f.output.flush().ok());
  CHECK(f.log == Log{"send tcp://probe", "send tcp://follower", "write 2 synced", "reply client-1", "send tcp://b",
                     "send tcp://leader", "disconnect tcp://gone", "start new", "abort old"});
}

TEST_CASE("turn output: the Raft batches of a turn's steps leave as one frame per address and side of the sync") {
  Fixture f;
  for (uint32_t group : {1u, 2u}) {
    Effects fx;
    AppendRequest append;
    append.group = group;
    AppendResponse ack;
    ack.group = group + 10;
    fx.sends.push_back(OutgoingPeerMessage{"tcp://b", RaftBatch{"n1", {append}}});
    fx.sends.push_back(OutgoingPeerMessage{"tcp://b", RaftBatch{"n1", {ack}}});
    Ready ready;
    ready.entries.push_back(LogEntry{group, 1, EntryType::kNormal, "op", {}, {}});
    ready.must_sync = true;
    fx.raft_writes.push_back(RaftWrite{group, std::move(ready)});
    f.output.add(fx);
  }
  REQUIRE(f.output.flush().ok());
  // The appends before the write, the acknowledgements after it.
  CHECK(f.log == Log{"send tcp://b", "write 2 synced", "send tcp://b"});
}

TEST_CASE("turn output: the synced write first, then replies, messages, disconnects, runs and aborts") {
  Fixture f;
  f.output.expect_reply(5, {"client-1", 42});
  Effects fx = one_step(5);
  f.output.add(fx);
  CHECK(f.log.empty());  // gathering sends nothing
  REQUIRE(f.output.flush().ok());
  CHECK(f.log == Log{"write 2 synced", "reply client-1", "send tcp://b", "disconnect tcp://gone", "start new",
                     "abort old"});
  CHECK(f.output.sync_us().count() == 1);
}

TEST_CASE("turn output: a request from the HTTP API gets its answer handed over after the write, not on the socket") {
  Fixture f;
  std::vector<Reply> delivered;
  f.output.expect_reply(5, {"", 0, false, [&](const Reply& reply) {
                              f.log.push_back("deliver");
                              delivered.push_back(reply);
                            }});
  Effects fx = one_step(5);
  f.output.add(fx);
  CHECK(delivered.empty());
  REQUIRE(f.output.flush().ok());
  CHECK(f.log == Log{"write 2 synced", "deliver", "send tcp://b", "disconnect tcp://gone", "start new", "abort old"});
  REQUIRE(delivered.size() == 1);
  CHECK(std::holds_alternative<SubmitReply>(delivered[0]));
}

TEST_CASE("turn output: a failed write lets nothing of the turn leave, then or later") {
  Fixture f;
  f.store.fail = true;
  f.output.expect_reply(5, {"client-1", 42});
  Effects fx = one_step(5);
  f.output.add(fx);
  Status s = f.output.flush();
  CHECK(s.code() == ErrorCode::kStorageError);
  CHECK(f.log == Log{"write 2 synced"});
  f.store.fail = false;
  CHECK_FALSE(f.output.flush().ok());
  CHECK(f.log == Log{"write 2 synced"});
}

TEST_CASE("turn output: a turn with nothing to persist writes nothing; a reply to nobody known is dropped") {
  Fixture f;
  Effects fx;
  fx.replies.push_back(AddressedReply{9, SubmitReply{}});  // not expected: the client's request predates a restart
  fx.sends.push_back(OutgoingPeerMessage{"tcp://b", StolenResultAck{}});
  f.output.add(fx);
  f.output.reply_now({"client-2", 1}, ErrorReply{ErrorCode::kMalformed, "bad"});
  REQUIRE(f.output.flush().ok());
  CHECK(f.log == Log{"reply client-2", "send tcp://b"});
}

TEST_CASE("turn output: runs wait for the executor, and replies for the socket, until attached") {
  Fixture f(/*attached=*/false);
  f.output.expect_reply(5, {"client-1", 42});
  Effects fx = one_step(5);
  f.output.add(fx);
  REQUIRE(f.output.flush().ok());
  CHECK(f.log == Log{"write 2 synced", "send tcp://b", "disconnect tcp://gone"});
  f.output.attach(&f.replies, &f.runs);
  REQUIRE(f.output.flush().ok());
  CHECK(f.log == Log{"write 2 synced", "send tcp://b", "disconnect tcp://gone", "reply client-1", "start new",
                     "abort old"});
}

}  // namespace
}  // namespace mesh
