// Which peer messages may leave before their turn's write is synced: those
// that promise nothing written, and a leader's Raft messages.
#include <doctest/doctest.h>

#include "node/core/effects.h"
#include "protocol/limits.h"

namespace mesh {
namespace {

TxnRequest step(TxnStep s) { return TxnRequest{s, 1, "tcp://a", "x1", 5, 3, false, {}, {}}; }

TEST_CASE("sync policy: requests that promise nothing written leave early; answers, votes and decisions wait") {
  CHECK(may_leave_before_sync(step(TxnStep::kPrepare)));
  CHECK(may_leave_before_sync(step(TxnStep::kStage)));
  CHECK(may_leave_before_sync(RouteSubmit{}));
  CHECK(may_leave_before_sync(Fanout{}));
  CHECK(may_leave_before_sync(Ping{}));
  // A decide, resolve or fence follows from state this turn may have written.
  CHECK_FALSE(may_leave_before_sync(step(TxnStep::kDecide)));
  CHECK_FALSE(may_leave_before_sync(step(TxnStep::kResolve)));
  CHECK_FALSE(may_leave_before_sync(step(TxnStep::kFence)));
  CHECK_FALSE(may_leave_before_sync(step(TxnStep::kInquire)));
  CHECK_FALSE(may_leave_before_sync(TxnReply{}));
  CHECK_FALSE(may_leave_before_sync(RouteSubmitReply{}));
  CHECK_FALSE(may_leave_before_sync(FanoutReply{}));
  CHECK_FALSE(may_leave_before_sync(StealGrant{}));
  CHECK_FALSE(may_leave_before_sync(StolenResult{}));
}

TEST_CASE("sync policy: a batch of a leader's Raft messages leaves early, one with an answer or a vote waits") {
  AppendRequest append;
  Heartbeat heartbeat;
  AppendResponse ack;
  VoteRequest vote;
  CHECK(may_leave_before_sync(RaftBatch{"n1", {append, heartbeat, InstallSnapshot{}, TimeoutNow{}}}));
  CHECK_FALSE(may_leave_before_sync(RaftBatch{"n1", {append, ack}}));
  CHECK_FALSE(may_leave_before_sync(RaftBatch{"n1", {vote}}));
  CHECK_FALSE(may_leave_before_sync(RaftBatch{"n1", {VoteResponse{}}}));
  CHECK_FALSE(may_leave_before_sync(RaftBatch{"n1", {HeartbeatResponse{}}}));
}

// The groups of a Raft batch's messages, in order.
std::vector<uint32_t> groups_of(const PeerMessage& message) {
  std::vector<uint32_t> groups;
  for (const auto& m : std::get<RaftBatch>(message).messages) groups.push_back(group_of(m));
  return groups;
}

AppendRequest append_of(uint32_t group, size_t data_bytes = 0) {
  AppendRequest a;
  a.group = group;
  if (data_bytes > 0) a.entries.push_back(LogEntry{1, 1, EntryType::kNormal, std::string(data_bytes, 'x'), {}, {}});
  return a;
}

TEST_CASE("raft batches of a turn fold into one per address, where the first stood, in order") {
  std::vector<OutgoingPeerMessage> sends = {
      {"tcp://b", RaftBatch{"n1", {append_of(1)}}},
      {"tcp://c", RaftBatch{"n1", {append_of(2)}}},
      {"tcp://b", TxnReply{}},
      {"tcp://b", RaftBatch{"n1", {append_of(3), append_of(4)}}},
      {"tcp://c", RaftBatch{"n1", {append_of(5)}}},
  };
  merge_raft_batches(sends);
  REQUIRE(sends.size() == 3);
  CHECK(sends[0].to_address == "tcp://b");
  CHECK(groups_of(sends[0].message) == std::vector<uint32_t>{1, 3, 4});
  CHECK(sends[1].to_address == "tcp://c");
  CHECK(groups_of(sends[1].message) == std::vector<uint32_t>{2, 5});
  CHECK(std::holds_alternative<TxnReply>(sends[2].message));
}

TEST_CASE("raft batches fold only within a frame's bound") {
  size_t half = limits::kRaftBatchBytes / 2;
  std::vector<OutgoingPeerMessage> sends = {
      {"tcp://b", RaftBatch{"n1", {append_of(1, half)}}},
      {"tcp://b", RaftBatch{"n1", {append_of(2, half)}}},
      {"tcp://b", RaftBatch{"n1", {append_of(3)}}},
  };
  merge_raft_batches(sends);
  REQUIRE(sends.size() == 2);
  CHECK(groups_of(sends[0].message) == std::vector<uint32_t>{1});
  CHECK(groups_of(sends[1].message) == std::vector<uint32_t>{2, 3});
}

}  // namespace
}  // namespace mesh
