// Task operations: every change to a task is one of these, applied by
// TaskTable::apply (node/core/task_table.h). They carry every value the change
// needs (times, jittered retry instants, the attempt being fenced), so
// applying the same operations in the same order gives the same table on
// every replica. They live in protocol/ because they are also what a
// partition's replicated log carries (codec.h encodes them).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "protocol/messages.h"

namespace mesh {

struct OpSubmit {
  TaskSpec spec;
  uint32_t partition = 0;
  uint64_t at_ms = 0;
  bool operator==(const OpSubmit&) const = default;
};

// PENDING -> LEASED: starts attempt `attempt` on `owner`. With backup
// (appended): LEASED -> LEASED, a second attempt on another owner races the
// running one (TaskRecord::backup).
struct OpLease {
  std::string id;
  uint32_t attempt = 0;
  std::string owner;
  uint64_t at_ms = 0;
  uint64_t lease_deadline_ms = 0;
  uint64_t timeout_at_ms = 0;
  bool backup = false;
  bool operator==(const OpLease&) const = default;
};

// Extends the lease of a running attempt.
struct OpRenew {
  std::string id;
  uint32_t attempt = 0;
  uint64_t lease_deadline_ms = 0;
  bool operator==(const OpRenew&) const = default;
};

// LEASED -> COMPLETED with the attempt's output.
struct OpComplete {
  std::string id;
  uint32_t attempt = 0;
  std::string output;
  uint64_t at_ms = 0;
  bool operator==(const OpComplete&) const = default;
};

// LEASED -> PENDING (after backoff, at retry_at_ms) or FAILED when the
// failure budget is spent. `outcome` is kFailed or kTimedOut.
struct OpFail {
  std::string id;
  uint32_t attempt = 0;
  AttemptOutcome outcome = AttemptOutcome::kFailed;
  std::string error;
  uint64_t at_ms = 0;
  uint64_t retry_at_ms = 0;
  bool operator==(const OpFail&) const = default;
};

// LEASED -> PENDING at once: the runner was lost (lease expired, node
// restarted). Does not count against max_attempts; counts toward
// max_lost_attempts instead: the release that loses the task's
// max_lost_attempts-th runner in a row makes it FAILED (a poison pill that
// kills whatever runs it). 0: no bound (ops written before the bound).
struct OpRelease {
  std::string id;
  uint32_t attempt = 0;
  std::string reason;
  uint64_t at_ms = 0;
  uint32_t max_lost_attempts = 0;
  bool operator==(const OpRelease&) const = default;
};

// PENDING or LEASED -> CANCELLED.
struct OpCancel {
  std::string id;
  uint64_t at_ms = 0;
  bool operator==(const OpCancel&) const = default;
};

// FAILED -> PENDING: a dead letter re-queued by an operator. The failure
// budget starts afresh; the attempt number and history carry on.
struct OpRetry {
  std::string id;
  uint64_t at_ms = 0;
  bool operator==(const OpRetry&) const = default;
};

// Forgets records whose retention has run out: COMPLETED and CANCELLED ones
// with finished_ms < finished_before_ms, FAILED ones with finished_ms <
// failed_before_ms; the oldest first (finished_ms, then id), at most
// max_records. The proposing leader computes the cutoffs from the clock its
// ops are stamped with; applying reads no clock, so every replica forgets
// the same records.
struct OpPurge {
  uint64_t finished_before_ms = 0;
  uint64_t failed_before_ms = 0;
  uint32_t max_records = 0;
  bool operator==(const OpPurge&) const = default;
};

// --- dependencies (docs/ARCHITECTURE.md, "Dependencies") ------------------

// What became of one parent of a BLOCKED task, as its partition's leader
// read it: completed (text is its result, or the task's shard of it) or
// failed or cancelled (text says why).
struct ParentOutcome {
  std::string child;
  std::string parent;
  bool completed = false;
  std::string text;
  bool operator==(const ParentOutcome&) const = default;
};

// BLOCKED -> PENDING once every parent completed; BLOCKED -> FAILED
// (upstream_failed) when one did not. An outcome for a task that is not
// BLOCKED, or already has that parent's input, changes nothing: outcomes are
// resent until applied.
struct OpParentsDone {
  std::vector<ParentOutcome> outcomes;
  uint64_t at_ms = 0;
  bool operator==(const OpParentsDone&) const = default;
};

// --- two-phase commit across partitions (docs/ARCHITECTURE.md) ------------

// Participant: stages a transaction's tasks of this partition as intents.
// Reads do not see them; their ids are locked against other submits and
// other transactions until OpTxnResolve. Refused whole (nothing staged) when
// one of the ids exists or is locked. Applying it again changes nothing.
// With cancel_job (appended, then no tasks): stages the cancel of every
// task of that job unfinished here now; they are locked the same way, and
// no new attempt of them starts until the resolve. Refused whole when
// another transaction holds one of them.
// With fence (appended, then no tasks): the coordinator's recovery of a
// staged transaction makes sure it can never prepare here. Refused
// (kConflict) when it is prepared here already; otherwise every later
// prepare of it is refused, until the fence is forgotten (OpTxnForget):
// a resolve leaves it, so that a prepare resent late is refused too.
struct OpTxnPrepare {
  std::string txn;
  uint32_t coordinator = 0;  // the partition holding the decision
  uint32_t partition = 0;    // this partition (the records' partition)
  std::vector<TaskSpec> tasks;
  uint64_t at_ms = 0;
  std::string cancel_job = {};
  bool fence = false;
  bool operator==(const OpTxnPrepare&) const = default;
};

// Participant: applies the intents as submits (commit) or drops them
// (abort); a staged cancel cancels its tasks still unfinished (commit). Without intents (never prepared here, or resolved already) it
// changes nothing.
struct OpTxnResolve {
  std::string txn;
  bool commit = false;
  uint64_t at_ms = 0;
  bool operator==(const OpTxnResolve&) const = default;
};

// What an OpTxnDecide writes (docs/ARCHITECTURE.md, "Transactions"):
//   kDecide     the decision. Over a staged transaction only a commit
//               applies; an abort is refused (kConflict): the outcome of a
//               staged transaction is recovered from its participants.
//   kStage      the participants of a transaction whose prepares are under
//               way, written beside them: once every one has prepared, it is
//               committed. Refused (kConflict) after a decision, or when
//               staged with other participants.
//   kRecovered  the decision the recovery found (commit: every participant
//               had prepared; abort: one is fenced).
enum class TxnDecideMode : uint8_t { kDecide = 0, kStage = 1, kRecovered = 2 };

// Coordinator: the transaction's decision, or its stage (see TxnDecideMode).
// The first decision applied wins; a later one, either way, changes nothing.
struct OpTxnDecide {
  std::string txn;
  bool commit = false;
  std::vector<uint32_t> participants;  // the partitions to resolve
  uint64_t at_ms = 0;
  TxnDecideMode mode = TxnDecideMode::kDecide;  // appended
  bool operator==(const OpTxnDecide&) const = default;
};

// Coordinator: drops a decision every participant has resolved, once it is
// older than any origin could still ask about. With fence (appended), a
// participant drops its fence of `txn` instead, as long after it was written.
struct OpTxnForget {
  std::string txn;
  bool fence = false;
  bool operator==(const OpTxnForget&) const = default;
};

// What the transaction ops leave in a partition's table (and its snapshot).
struct PreparedTxn {  // a participant's staged intents
  uint32_t coordinator = 0;
  uint32_t partition = 0;
  std::vector<TaskSpec> tasks;
  uint64_t prepared_ms = 0;
  std::vector<std::string> cancels = {};  // a staged cancel: the ids it holds
  bool fenced = false;                     // no intents: the transaction may not prepare here
  bool operator==(const PreparedTxn&) const = default;
};
struct TxnDecision {  // a coordinator's decision, kept until forgotten
  bool commit = false;
  std::vector<uint32_t> participants;
  uint64_t decided_ms = 0;
  bool staged = false;  // not decided yet: its participants, while they prepare
  bool operator==(const TxnDecision&) const = default;
};
using PreparedTxns = std::map<std::string, PreparedTxn>;  // by transaction id
using TxnDecisions = std::map<std::string, TxnDecision>;

using TaskOp = std::variant<OpSubmit, OpLease, OpRenew, OpComplete, OpFail, OpRelease, OpCancel, OpRetry, OpPurge,
                            OpTxnPrepare, OpTxnResolve, OpTxnDecide, OpTxnForget, OpParentsDone>;

// The task an op changes; empty for OpPurge, the transaction ops and
// OpParentsDone, which name none or many.
const std::string& op_task_id(const TaskOp& op);

}  // namespace mesh
