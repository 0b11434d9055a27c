// Plain structs for every wire message and the task record they carry.
// No behaviour here: codec.h turns them into bytes, node/core gives them
// meaning. Fields are only ever appended (see docs/PROTOCOL.md).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "protocol/error_code.h"
#include "protocol/member_state.h"

namespace mesh {

enum class TaskState : uint8_t {
  kPending = 0,
  kLeased = 1,
  kCompleted = 2,
  kFailed = 3,  // attempts exhausted: the dead letter, kept and listable
  kCancelled = 4,
  kBlocked = 5,  // waits for its parents (TaskSpec::after) to complete
};
inline constexpr uint8_t kTaskStateCount = 6;

inline bool is_terminal(TaskState s) {
  return s == TaskState::kCompleted || s == TaskState::kFailed || s == TaskState::kCancelled;
}
const char* state_name(TaskState s);
bool parse_state(const std::string& text, TaskState* out);

// A parent a task waits for: its id, and the key it was submitted under
// (empty: the id), which names the parent's partition. `in_job`: stored by
// the same transaction as the task (set by the node that checks the
// submit), so a leader that does not show it yet will.
struct ParentRef {
  std::string id;
  std::string key;
  bool in_job = false;
  bool operator==(const ParentRef&) const = default;
};

// What a client asks to run. `id` is the idempotency key.
struct TaskSpec {
  std::string id;
  std::string handler;
  std::string payload;
  int32_t priority = 0;  // higher runs first
  uint32_t max_attempts = 3;
  uint64_t backoff_base_ms = 100;
  uint64_t backoff_max_ms = 30000;
  uint64_t timeout_ms = 60000;  // per attempt
  std::string key;              // partition key; empty means the id
  bool stealable = true;
  // Appended (docs/ARCHITECTURE.md, "Dependencies"). The task stays BLOCKED
  // until every parent completed; its handler then gets their results, in
  // this order. A parent that failed or was cancelled fails it.
  std::vector<ParentRef> after = {};
  // With shard_count > 0, of each parent's result the task gets only the
  // lines whose key (up to the first tab) hashes to shard_index: the
  // shuffle between map and reduce tasks.
  uint32_t shard_index = 0;
  uint32_t shard_count = 0;
  // Appended: no backup attempt is started for this task when it straggles
  // (docs/ARCHITECTURE.md, "Backup attempts"), e.g. for a handler whose
  // side effects must not run twice at once.
  bool no_backup = false;

  bool operator==(const TaskSpec&) const = default;
};

enum class AttemptOutcome : uint8_t {
  kRunning = 0,
  kSucceeded = 1,
  kFailed = 2,     // the handler reported failure
  kTimedOut = 3,   // ran past timeout_ms
  kLost = 4,       // lease expired or runner restarted; not counted against max_attempts
  kCancelled = 5,
};
const char* outcome_name(AttemptOutcome o);

struct AttemptInfo {
  uint32_t attempt = 0;
  std::string runner;  // node id that ran it
  uint64_t started_ms = 0;
  uint64_t ended_ms = 0;
  AttemptOutcome outcome = AttemptOutcome::kRunning;
  std::string error;
  bool backup = false;  // appended: a backup attempt, started to race a straggler

  bool operator==(const AttemptInfo&) const = default;
};

// A second attempt of a straggling task, racing the first one (the record's
// own lease fields): the first of the two to complete commits, the other
// is fenced. attempt 0: none runs.
struct BackupLease {
  uint32_t attempt = 0;
  std::string owner;
  uint64_t deadline_ms = 0;
  uint64_t timeout_at_ms = 0;

  bool operator==(const BackupLease&) const = default;
};

// The replicated, persisted state of one task.
struct TaskRecord {
  TaskSpec spec;
  uint32_t partition = 0;
  TaskState state = TaskState::kPending;
  uint32_t attempt = 0;   // number of the latest attempt; fences completions
  uint32_t failures = 0;  // attempts counted against max_attempts
  std::string lease_owner;
  uint64_t lease_deadline_ms = 0;
  uint64_t timeout_at_ms = 0;   // current attempt fails after this
  uint64_t not_before_ms = 0;   // backoff: not runnable before this
  uint64_t submitted_ms = 0;
  uint64_t finished_ms = 0;
  std::string result;  // output of the successful attempt
  std::string error;   // last error
  std::vector<AttemptInfo> attempts;
  // Attempts in a row lost with their runner (OpRelease), since the last
  // attempt that ended otherwise or the last retry; bounded by the
  // max_lost_attempts of the leader releasing them.
  uint32_t lost_attempts = 0;
  // The transaction (atomic submit) that stored the task, its job; empty
  // for a plain submit. Appended on the wire, written only when set.
  std::string txn = {};
  // The results of the parents that completed (their shard, with
  // shard_count), by parent id; appended, written only when there are any.
  std::map<std::string, std::string> inputs = {};
  // Appended, written only while a backup attempt runs.
  BackupLease backup = {};

  bool operator==(const TaskRecord&) const = default;
};

// --- requests and replies -------------------------------------------------

struct ErrorReply {
  ErrorCode code = ErrorCode::kOk;
  std::string message;
};

struct SubmitRequest {
  std::vector<TaskSpec> tasks;
  // Appended: all or none of the tasks are stored, through a transaction
  // across their partitions (docs/ARCHITECTURE.md, "Transactions").
  bool atomic = false;
  std::string txn = {};  // its id (empty: the node makes one); a retry with the same id learns the first outcome
};
struct SubmitOutcome {
  std::string id;
  ErrorCode code = ErrorCode::kOk;
  std::string message;
  bool duplicate = false;  // id was already known: nothing new was stored
  TaskState state = TaskState::kPending;
};
struct SubmitReply {
  std::vector<SubmitOutcome> outcomes;
  std::string txn = {};  // appended: the transaction of an atomic submit
};

struct GetRequest {
  std::vector<std::string> ids;
  // Appended: the key each id was submitted under ("" for none), or empty
  // when unknown; a node then asks only the partitions of these keys.
  std::vector<std::string> keys = {};
};
struct GetReply {
  std::vector<TaskRecord> records;   // for the ids that exist, in request order
  std::vector<std::string> missing;  // ids not found
};

struct WaitRequest {
  std::vector<std::string> ids;  // ignored when all = true
  bool all = false;              // until no task on the node is unfinished
  uint64_t timeout_ms = 30000;
  std::vector<std::string> keys = {};  // appended: as GetRequest::keys
};
struct WaitReply {
  bool timed_out = false;
  std::vector<TaskRecord> records;
  std::vector<std::string> missing;
  uint64_t unfinished = 0;
};

struct CancelRequest {
  std::vector<std::string> ids;
  // Appended: with a job (the transaction id of its atomic submit) and no
  // ids, every unfinished task of that job, all or none, through a
  // transaction (docs/ARCHITECTURE.md, "Atomic job cancel").
  std::string job = {};
};
struct CancelOutcome {
  std::string id;
  ErrorCode code = ErrorCode::kOk;
  TaskState state = TaskState::kCancelled;
};
struct CancelReply {
  std::vector<CancelOutcome> outcomes;
};

// Re-queues dead letters: the named tasks, or every FAILED task
// (all_failed, at most kMaxBatchTasks per partition leader and request).
struct RetryRequest {
  std::vector<std::string> ids;
  bool all_failed = false;
};
// Per task: kOk (PENDING again, `state` as it is now), kNotFound, kConflict
// (not FAILED; `state` says what it is) or kUnavailable.
using RetryOutcome = CancelOutcome;
struct RetryReply {
  std::vector<RetryOutcome> outcomes;
};

struct ListRequest {
  bool any_state = true;
  TaskState state = TaskState::kPending;
  uint32_t limit = 1000;
  std::string after_id;  // paging: ids sort ascending
  std::string txn = {};  // appended: only the tasks this transaction (job) stored
  // Appended: records without payload, parents, result, error, inputs and
  // attempts, for a caller that needs only ids, states and partitions.
  bool brief = false;
};
struct ListReply {
  std::vector<TaskRecord> records;
  bool more = false;
};

struct HistogramSummary {
  uint64_t count = 0;
  uint64_t sum = 0;
  uint64_t p50 = 0;
  uint64_t p90 = 0;
  uint64_t p99 = 0;
  uint64_t max = 0;
};

struct StatsRequest {};
struct StatsReply {
  std::string node_id;
  std::map<std::string, uint64_t> counters;
  std::map<std::string, int64_t> gauges;
  std::map<std::string, HistogramSummary> histograms;
};

// Membership as one node sees it.
struct MembersRequest {};
struct MemberInfo {
  std::string id;
  std::string address;
  uint64_t incarnation = 0;
  MemberState state = MemberState::kAlive;
  LoadDigest load;
  uint64_t state_since_ms = 0;  // when the reporting node last changed its belief
  std::string replica_id;       // "<id>#<disk id>": the member's id in partition groups
};
struct MembersReply {
  std::string node_id;
  std::vector<MemberInfo> members;
};

// The ring and the partition table as one node computes them.
struct PartitionsRequest {};
struct PartitionInfo {
  uint32_t partition = 0;
  std::vector<std::string> replicas;  // first = preferred leader
};
struct NodeShare {
  std::string node_id;
  uint32_t partitions_led = 0;
  uint32_t replicas_held = 0;
  uint32_t key_share_ppm = 0;  // of the hash ring, parts per million
};
// One partition's Raft group as the answering node's replica sees it.
struct FollowerLag {
  std::string replica_id;
  uint64_t behind = 0;  // entries the leader has that this follower has not acknowledged
};
struct GroupInfo {
  uint32_t partition = 0;
  std::string role;    // leader, follower, candidate, pre-candidate, halted
  uint64_t term = 0;
  std::string leader;  // replica id ("<node>#<disk>"), empty when unknown
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;
  uint64_t last_index = 0;
  std::vector<std::string> voters;  // replica ids, sorted
  std::vector<FollowerLag> lag;     // the leader's view of each follower; empty elsewhere
};
struct PartitionsReply {
  std::string node_id;
  uint32_t partitions = 0;
  uint32_t replicas = 0;
  uint64_t digest = 0;  // equal on every node with the same view
  std::vector<PartitionInfo> table;
  std::vector<NodeShare> shares;
  std::vector<GroupInfo> groups;  // the groups this node hosts a replica of
};

// Work stealing as one node saw it.
struct StealsRequest {};
struct StealEvent {
  uint64_t at_ms = 0;
  std::string victim;
  std::string thief;
  uint32_t tasks = 0;
};
// Every steal between one victim and one thief since the node started.
struct StealTotal {
  std::string victim;
  std::string thief;
  uint64_t batches = 0;
  uint64_t tasks = 0;
  uint64_t last_at_ms = 0;
};
struct StealsReply {
  std::string node_id;
  bool enabled = true;
  std::vector<StealEvent> recent;             // oldest first, at most 1000
  std::map<std::string, uint64_t> counters;   // the node's steal counters
  std::vector<StealTotal> totals;             // appended; by victim, then thief
};

// Transactions as one node takes part in them (docs/ARCHITECTURE.md, "Transactions").
struct TxnsRequest {};
struct TxnInfo {
  std::string txn;
  std::string role;   // origin, participant or coordinator
  std::string state;  // origin: preparing, deciding; participant: prepared (in doubt); coordinator: committed, aborted
  uint32_t partition = 0;  // origin, coordinator: the coordinator partition; participant: its own
  uint64_t age_ms = 0;     // since this node started it, prepared it, or (coordinator) saw its decision
};
struct TxnsReply {
  std::string node_id;
  std::vector<TxnInfo> txns;
};

// Something a node saw happen: a member changed state, leadership of a
// partition moved, a replica was added or removed, a steal, a dead letter,
// a transaction decided, a partition halted, the disk filled. The node logs
// each and keeps the most recent (docs/ARCHITECTURE.md, "Events").
struct MeshEvent {
  uint64_t seq = 0;    // the node's event number, from 1; 0 until the node numbers it
  uint64_t at_ms = 0;  // on the node's clock
  std::string kind;    // e.g. member_dead, leader_gained, replica_added, steal, task_dead_lettered
  std::string subject;  // what it is about: a node id, "partition 17", a task or transaction id
  std::string detail;
};
// The events of one node numbered after `after_seq`, oldest first.
struct EventsRequest {
  uint64_t after_seq = 0;
};
struct EventsReply {
  std::string node_id;
  std::vector<MeshEvent> events;  // at most 1000; more follow from the last seq
  uint64_t first_kept_seq = 0;    // older events are gone from the node's ring
};

// Asks the node to stop as SIGTERM would (meshctl drain): hand its
// leaderships over, let running attempts finish, exit 0.
struct DrainRequest {};
struct DrainReply {
  std::string node_id;
  bool already_draining = false;
  uint32_t running = 0;         // attempts still running, which it waits for
  uint32_t partitions_led = 0;  // leaderships it is about to hand over
  uint64_t grace_ms = 0;        // what running attempts get, at most
};

// A replica whose disk is gone for good leaves the groups the answering
// node leads, even below R voters (meshctl operator remove-replica asks
// every member). Refused for the current replica of a live member.
struct RemoveReplicaRequest {
  std::string replica_id;  // "<node id>#<disk id>"
};
struct RemoveReplicaReply {
  std::string node_id;
  std::vector<uint32_t> partitions;  // led here with it as a voter or learner: its removal is proposed
};

using Request = std::variant<SubmitRequest, GetRequest, WaitRequest, CancelRequest, ListRequest,
                             StatsRequest, MembersRequest, PartitionsRequest, StealsRequest, RetryRequest,
                             TxnsRequest, EventsRequest, DrainRequest, RemoveReplicaRequest>;
using Reply = std::variant<ErrorReply, SubmitReply, GetReply, WaitReply, CancelReply, ListReply, StatsReply,
                           MembersReply, PartitionsReply, StealsReply, RetryReply, TxnsReply, EventsReply,
                           DrainReply, RemoveReplicaReply>;

}  // namespace mesh
