// TaskTable: the deterministic state machine that owns every task record of
// the partitions a node serves. Its only mutator is apply(op).
//
// Transitions (anything else is rejected and changes nothing):
//   (none)    --Submit-->  PENDING, or BLOCKED when the spec names parents
//   BLOCKED   --ParentsDone-> PENDING  every parent completed (inputs full)
//   BLOCKED   --ParentsDone-> FAILED   a parent failed or was cancelled
//   PENDING   --Lease--->  LEASED      attempt must be next_attempt(record)
//   LEASED    --Lease(backup)-> LEASED a second attempt, on another owner,
//                                      races the first (at most one backup)
//   LEASED    --Renew--->  LEASED      same attempt
//   LEASED    --Complete-> COMPLETED   same attempt; a racing one is cancelled
//   LEASED    --Fail|Release-> LEASED  one of two racing attempts ends; the
//                                      other runs on as the lease
//   LEASED    --Fail---->  PENDING     same attempt, failures < max_attempts
//   LEASED    --Fail---->  FAILED      same attempt, failure budget spent
//   LEASED    --Release->  PENDING     same attempt, budget untouched
//   LEASED    --Release->  FAILED      same attempt, max_lost_attempts-th lost runner in a row
//   PENDING|LEASED|BLOCKED --Cancel--> CANCELLED
//   FAILED    --Retry--->  PENDING     failures reset, attempt numbering kept;
//                                      refused for one that failed upstream
//   terminal  --Purge--->  (none)      finished before the op's cutoff
//   (none)    --TxnPrepare, TxnResolve(commit)--> PENDING   through an intent
//   PENDING|LEASED|BLOCKED --TxnPrepare(cancel_job), TxnResolve(commit)--> CANCELLED
// Transactions (docs/ARCHITECTURE.md, "Transactions"): a prepare stages its
// tasks as intents, invisible to find() and records(), whose ids no submit
// or other prepare may take until the resolve applies them as submits
// (commit) or drops them (abort). A prepared cancel of a job holds the
// job's unfinished tasks the same way: no lease, cancel or retry applies to
// them until the resolve cancels them (commit) or lets them go (abort). A
// decision is kept, first one wins, until forgotten.
// Invariants: a COMPLETED or CANCELLED record never changes again, and a
// FAILED one only through Retry; attempt numbers only grow, across retries
// too; at most one attempt of a record has outcome kSucceeded; every
// terminal record is in exactly one retention index, keyed by finished_ms.
//
// Retention: a purged id is unknown again, so a submit reusing it makes a
// new task. The idempotency window of an id is therefore its record's
// retention (docs/ARCHITECTURE.md, "Retention").
#pragma once

#include <algorithm>
#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "protocol/task_ops.h"
#include "protocol/result.h"

namespace mesh {

// An error as an op or a record carries it: at most kMaxErrorBytes, the
// limit every decoder of a log entry enforces.
std::string error_text(std::string text);

// The error a dead letter made by max_lost_attempts carries.
std::string error_text_of_lost(uint32_t lost_attempts, const std::string& reason);

// The newest attempt number given out. A backup that ended before the
// attempt it raced keeps its number only in the history, which always holds
// the newest attempt.
inline uint32_t latest_attempt(const TaskRecord& r) {
  uint32_t latest = std::max(r.attempt, r.backup.attempt);
  return r.attempts.empty() ? latest : std::max(latest, r.attempts.back().attempt);
}
// The history entry of `attempt`, or nullptr when it was dropped (or never kept).
inline const AttemptInfo* find_attempt(const TaskRecord& r, uint32_t attempt) {
  auto it = std::find_if(r.attempts.rbegin(), r.attempts.rend(), [&](const AttemptInfo& a) { return a.attempt == attempt; });
  return it == r.attempts.rend() ? nullptr : &*it;
}
// The number the next lease of `r` takes.
inline uint32_t next_attempt(const TaskRecord& r) { return latest_attempt(r) + 1; }

// The fencing rule, in one place: `attempt` is a current lease of `r`, its
// lease or the backup racing it. Attempt numbers are never reused (each
// lease takes next_attempt), so at apply time the attempt alone fences a
// stale outcome; before proposing, a node also checks who holds the lease
// (`owner`), so it never proposes an outcome on another runner's behalf.
inline bool is_current_lease(const TaskRecord& r, uint32_t attempt) {
  return r.state == TaskState::kLeased && attempt != 0 && (r.attempt == attempt || r.backup.attempt == attempt);
}
inline bool is_current_lease(const TaskRecord& r, uint32_t attempt, const std::string& owner) {
  return is_current_lease(r, attempt) && (r.attempt == attempt ? r.lease_owner : r.backup.owner) == owner;
}

class TaskTable {
 public:
  // Applies one operation. On error nothing changed; kStaleAttempt means the
  // op named an attempt that is not the current leased one. `touched`, when
  // given, receives the ids of the records an op naming no single task
  // (a transaction's resolve, OpParentsDone) made or moved.
  Status apply(const TaskOp& op, std::vector<std::string>* touched = nullptr);

  // Loads a record read back from storage (recovery); replaces any in memory.
  void restore(TaskRecord record);

  // Loads transaction state read back from a snapshot.
  void restore_transactions(PreparedTxns prepared, TxnDecisions decisions);

  // Applies a purge and returns the ids it removed, oldest first.
  std::vector<std::string> purge(const OpPurge& op);
  // True when a purge with these cutoffs would remove something.
  bool has_expired(uint64_t finished_before_ms, uint64_t failed_before_ms) const;

  const TaskRecord* find(const std::string& id) const;
  const std::map<std::string, TaskRecord>& records() const { return records_; }
  size_t unfinished() const { return unfinished_; }
  size_t count_in(TaskState state) const { return by_state_[static_cast<size_t>(state)]; }
  const PreparedTxns& prepared() const { return prepared_; }
  const TxnDecisions& decisions() const { return decisions_; }
  // The transaction whose intent holds `id`, or nullptr.
  const std::string* locked_by(const std::string& id) const;
  // Why a new task `id` cannot be stored here now (it exists, or an intent
  // holds it); OK when it can.
  Status check_new_id(const std::string& id) const;
  // kConflict when a transaction holds `id` (an intent, a prepared cancel).
  Status check_not_held(const std::string& id) const;

 private:
  Status apply_op(const OpSubmit& op);
  Status apply_op(const OpLease& op);
  Status apply_op(const OpRenew& op);
  Status apply_op(const OpComplete& op);
  Status apply_op(const OpFail& op);
  Status apply_op(const OpRelease& op);
  Status apply_op(const OpCancel& op);
  Status apply_op(const OpRetry& op);
  Status apply_op(const OpPurge& op);
  Status apply_op(const OpTxnPrepare& op);
  Status apply_op(const OpTxnResolve& op);
  Status apply_op(const OpTxnDecide& op);
  Status apply_op(const OpTxnForget& op);
  Status apply_op(const OpParentsDone& op);
  Status lease_backup(TaskRecord& r, const OpLease& op);
  Status prepare_cancel(const OpTxnPrepare& op);
  void cancel(TaskRecord& record, uint64_t at_ms);
  void apply_parent_outcome(const ParentOutcome& outcome, uint64_t at_ms);

  // Finds the record whose current attempt is leased as `attempt`.
  Result<TaskRecord*> leased(const std::string& id, uint32_t attempt);
  // Moves a record to `state`, keeping the counts and the retention indexes;
  // a record entering a terminal state must have its finished_ms set first.
  void set_state(TaskRecord& record, TaskState state);
  // The retention index a terminal state belongs to: finished or failed.
  using ExpiryIndex = std::set<std::pair<uint64_t, std::string>>;  // (finished_ms, id)
  ExpiryIndex& expiry_index(TaskState state) { return state == TaskState::kFailed ? failed_ : finished_; }
  void index_terminal(const TaskRecord& record, bool add);
  // Ends the running attempt `attempt` of a leased record with `outcome`.
  // Returns true when a racing attempt runs on: it is the lease now.
  static bool end_attempt(TaskRecord& record, uint32_t attempt, AttemptOutcome outcome, uint64_t at_ms,
                          std::string error);
  static void start_attempt(TaskRecord& record, const OpLease& op);

  // Ordered by id so that listing and persisting never depend on hash order.
  std::map<std::string, TaskRecord> records_;
  size_t by_state_[kTaskStateCount] = {};
  size_t unfinished_ = 0;
  ExpiryIndex finished_;  // COMPLETED and CANCELLED
  ExpiryIndex failed_;
  PreparedTxns prepared_;
  std::map<std::string, std::string> locked_ids_;  // task id -> transaction holding it
  TxnDecisions decisions_;
  std::vector<std::string>* touched_ = nullptr;    // apply's out-parameter, during one apply
};

}  // namespace mesh
