// TaskTable: the deterministic state machine that owns every task record of
// the partitions a node serves. Its only mutator is apply(op).
//
// Transitions (anything else is rejected and changes nothing):
//   (none)    --Submit-->  PENDING
//   PENDING   --Lease--->  LEASED      attempt must be record.attempt + 1
//   LEASED    --Renew--->  LEASED      same attempt
//   LEASED    --Complete-> COMPLETED   same attempt
//   LEASED    --Fail---->  PENDING     same attempt, failures < max_attempts
//   LEASED    --Fail---->  FAILED      same attempt, failure budget spent
//   LEASED    --Release->  PENDING     same attempt, budget untouched
//   PENDING|LEASED --Cancel--> CANCELLED
// Invariants: a terminal record never changes again; attempt numbers only
// grow; at most one attempt of a record has outcome kSucceeded.
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include "protocol/task_ops.h"
#include "protocol/result.h"

namespace mesh {

class TaskTable {
 public:
  // Applies one operation. On error nothing changed; kStaleAttempt means the
  // op named an attempt that is not the current leased one.
  Status apply(const TaskOp& op);

  // Loads a record read back from storage (recovery); replaces any in memory.
  void restore(TaskRecord record);

  const TaskRecord* find(const std::string& id) const;
  const std::map<std::string, TaskRecord>& records() const { return records_; }
  size_t unfinished() const { return unfinished_; }
  size_t count_in(TaskState state) const { return by_state_[static_cast<size_t>(state)]; }

 private:
  Status apply_op(const OpSubmit& op);
  Status apply_op(const OpLease& op);
  Status apply_op(const OpRenew& op);
  Status apply_op(const OpComplete& op);
  Status apply_op(const OpFail& op);
  Status apply_op(const OpRelease& op);
  Status apply_op(const OpCancel& op);

  // Finds the record whose current attempt is leased as `attempt`.
  Result<TaskRecord*> leased(const std::string& id, uint32_t attempt);
  void set_state(TaskRecord& record, TaskState state);
  static void end_attempt(TaskRecord& record, AttemptOutcome outcome, uint64_t at_ms, std::string error);

  // Ordered by id so that listing and persisting never depend on hash order.
  std::map<std::string, TaskRecord> records_;
  size_t by_state_[kTaskStateCount] = {};
  size_t unfinished_ = 0;
};

}  // namespace mesh
