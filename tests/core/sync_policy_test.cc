// Which peer messages may leave before their turn's write is synced: those
// that promise nothing written, and a leader's Raft messages.
#include <doctest/doctest.h>

#include "node/core/effects.h"

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

}  // namespace
}  // namespace mesh
