// Node-to-node messages: SWIM membership gossip with the load digest riding
// along. Plain structs; codec.h encodes them. Every node is addressed by the
// endpoint it advertises (e.g. tcp://10.0.0.5:7700), which is how a seed is
// known before its id is.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "protocol/messages.h"
#include "protocol/raft_messages.h"

namespace mesh {

// One fact about one member, as gossiped. Newer facts win by incarnation,
// then by state (dead/left > suspect > alive) at equal incarnation.
struct MemberUpdate {
  std::string id;
  std::string address;
  uint64_t incarnation = 0;
  MemberState state = MemberState::kAlive;
  LoadDigest load;
  // The id under which the member's disk takes part in partition groups:
  // "<node id>#<disk id>". A node whose disk was wiped comes back under a new
  // one (docs/ARCHITECTURE.md, "Lost disks"). Travels with the incarnation.
  std::string replica_id;

  bool operator==(const MemberUpdate&) const = default;
};

// Direct probe. The receiver answers with an Ack carrying the same seq.
struct Ping {
  uint64_t seq = 0;
  std::string from_id;
  std::string from_address;
  std::string target_id;  // the receiver checks it is the node meant
  std::vector<MemberUpdate> updates;
};

// Asks the receiver to probe `target` on the sender's behalf and forward
// the Ack (Lifeguard also has it Nack when the target stays silent).
struct PingReq {
  uint64_t seq = 0;
  std::string from_id;
  std::string from_address;
  std::string target_id;
  std::string target_address;
  std::vector<MemberUpdate> updates;
};

struct Ack {
  uint64_t seq = 0;
  std::string from_id;
  std::string from_address;
  bool nack = false;  // an indirect prober could not reach the target
  std::vector<MemberUpdate> updates;
};

// Full-state exchange (push-pull): joining through a seed and the periodic
// anti-entropy round both send a Sync; the receiver answers with its own
// full state (reply = true) and merges the sender's.
struct Sync {
  std::string from_id;
  std::string from_address;
  bool reply = false;
  std::vector<MemberUpdate> members;
};

// --- work stealing (DESIGN §5) ---------------------------------------------

// An idle node asks a loaded one for up to `want` tasks.
struct StealRequest {
  std::string thief_id;
  std::string thief_address;
  uint32_t want = 0;
};

// One attempt of a task to run: what the core asks its executor to start,
// and what a victim hands a thief under a lease the thief holds.
struct RunTask {
  std::string id;
  uint32_t attempt = 0;
  std::string handler;
  std::string payload;
  uint64_t timeout_ms = 0;
  uint32_t partition = 0;  // whose leader commits the outcome
  std::vector<std::string> inputs = {};  // appended: the parents' results, in TaskSpec::after order
};

// The answer to a StealRequest (possibly empty). The leases are durable on
// the victim before this is sent.
struct StealGrant {
  std::string victim_id;
  std::string victim_address;
  std::vector<RunTask> tasks;
};

struct AttemptRef {
  std::string id;
  uint32_t attempt = 0;
  uint32_t partition = 0;
  // How long the runner has run it (0: granted, waiting for a slot): the
  // leader times the attempt out from its start, a duration on its own clock.
  uint64_t ran_ms = 0;
};

// The runner is still running these attempts (or holds their outcome, not
// yet committed): extend their leases. Sent to each partition's current
// leader, as far as the runner knows it; answered with LeaderHints.
struct LeaseRenewal {
  std::string thief_id;
  std::vector<AttemptRef> running;
  std::string thief_address;  // where the LeaderHints go
};

// The outcome of a stolen attempt, sent to the task's owner until acknowledged.
struct StolenResult {
  std::string thief_id;
  std::string thief_address;
  std::string id;
  uint32_t attempt = 0;
  bool ok = false;
  std::string output;  // result, or error text
  uint32_t partition = 0;
};

// Sent once the result's op is applied on the leader, never when it is only
// proposed. accepted = true: this result is committed (now, or by an earlier
// copy whose ack was lost). false: the attempt was no longer current
// (fenced), nothing from it is committed.
struct StolenResultAck {
  std::string id;
  uint32_t attempt = 0;
  bool accepted = false;
  uint32_t partition = 0;
};

// One partition as the sender sees it: it leads it, or it names the leader
// it knows (empty when it knows none).
struct PartitionLeader {
  uint32_t partition = 0;
  bool leads = false;
  std::string leader_address;
  uint64_t term = 0;  // the sender's Raft term of the partition: a newer one outranks a silence
};

// The answer to a LeaseRenewal, and to a StolenResult sent to a node that
// does not lead its partition: where the runner should send that
// partition's renewals and outcomes.
struct LeaderHints {
  std::string from_address;
  std::vector<PartitionLeader> partitions;
};

// --- replication -----------------------------------------------------------

// Every Raft message of every partition group one node has for another in
// one flush: heartbeats of all partitions between two nodes travel together.
struct RaftBatch {
  std::string from_node;
  std::vector<RaftMessage> messages;
};

// Routing: a node that accepts a client request and does not lead the
// partition concerned passes it on. A submit goes to the leader of each
// partition its tasks map to; reads, waits and cancels by id go to every
// live node, each answering for the partitions it leads.
struct RouteSubmit {
  uint64_t route_id = 0;  // the origin's handle; echoed in the reply
  std::string origin_address;
  uint32_t partition = 0;
  std::vector<TaskSpec> tasks;  // all of this partition
};

struct RouteSubmitReply {
  uint64_t route_id = 0;
  ErrorCode code = ErrorCode::kOk;  // kNotLeader: ask leader_address (when known)
  std::string leader_address;
  std::vector<SubmitOutcome> outcomes;  // code kOk: one per task, in order
};

struct Fanout {
  uint64_t fanout_id = 0;
  std::string origin_address;
  Request request;  // GetRequest, WaitRequest, CancelRequest or ListRequest
};

struct FanoutReply {
  uint64_t fanout_id = 0;
  std::string from_id;
  std::vector<uint32_t> covered;  // the partitions the answer speaks for (led by from_id)
  Reply reply;                    // the reply type of the request
};

// --- transactions across partitions (docs/ARCHITECTURE.md, "Transactions") --

// The steps of a transaction, each addressed to the leader of one partition:
//   prepare  origin -> participant: stage `tasks` (OpTxnPrepare), then vote
//   decide   origin -> coordinator: write the decision (OpTxnDecide); answered
//            with the decision that won, once every participant resolved it
//   resolve  coordinator -> participant: apply or drop the intents (OpTxnResolve)
//   inquire  participant -> coordinator: intents held too long; the
//            coordinator aborts an undecided transaction (recovers a staged
//            one) and resolves this participant
//   stage    origin -> coordinator: write the participants beside the
//            prepares (OpTxnDecide, kStage); answered commit = staged
//   fence    coordinator -> participant, recovering a staged transaction:
//            answered commit = prepared here, else it never will (a fence)
enum class TxnStep : uint8_t { kPrepare = 1, kDecide = 2, kResolve = 3, kInquire = 4, kStage = 5, kFence = 6 };
const char* txn_step_name(TxnStep step);

struct TxnRequest {
  TxnStep step = TxnStep::kPrepare;
  uint64_t handle = 0;  // the sender's; echoed in the reply
  std::string from_address;
  std::string txn;
  uint32_t partition = 0;    // whose leader is asked
  uint32_t coordinator = 0;  // the partition holding the decision
  bool commit = false;       // decide, resolve: the decision
  std::vector<uint32_t> participants;  // decide, stage: the partitions to resolve
  std::vector<TaskSpec> tasks;         // prepare: this partition's tasks
  std::string cancel_job = {};         // appended; prepare: cancel this job's tasks instead
};

struct TxnReply {
  TxnStep step = TxnStep::kPrepare;
  uint64_t handle = 0;
  std::string txn;
  uint32_t partition = 0;
  ErrorCode code = ErrorCode::kOk;  // kNotLeader: ask leader_address (when known)
  std::string leader_address;
  bool commit = false;  // prepare: the vote; decide: the decision; stage: staged; fence: prepared
  // Prepare, voting no: why, per task (a job cancel's: one, under the job's id).
  std::vector<SubmitOutcome> outcomes;
};

using PeerMessage = std::variant<Ping, PingReq, Ack, Sync, StealRequest, StealGrant, LeaseRenewal, StolenResult,
                                 StolenResultAck, RaftBatch, RouteSubmit, RouteSubmitReply, Fanout, FanoutReply,
                                 LeaderHints, TxnRequest, TxnReply>;

// The node ids a message says it comes from (its sender fields; a Raft
// message's replica "<node>#<disk>" counts as <node>). An authenticated
// sender must be every one of them (node/runtime/driver.cc).
std::vector<std::string> claimed_node_ids(const PeerMessage& message);

}  // namespace mesh
