#include "node/core/task_table.h"

#include <algorithm>

#include "node/core/assert.h"
#include "protocol/limits.h"

namespace mesh {

std::string error_text(std::string text) {
  if (text.size() > limits::kMaxErrorBytes) text.resize(limits::kMaxErrorBytes);
  return text;
}

std::string error_text_of_lost(uint32_t lost_attempts, const std::string& reason) {
  return error_text("lost its runner " + std::to_string(lost_attempts) + " times in a row (max_lost_attempts); last: " +
                    reason);
}

Status TaskTable::apply(const TaskOp& op, std::vector<std::string>* touched) {
  touched_ = touched;
  Status status = std::visit([this](const auto& o) { return apply_op(o); }, op);
  touched_ = nullptr;
  return status;
}

void TaskTable::restore(TaskRecord record) {
  auto it = records_.find(record.spec.id);
  if (it != records_.end()) {
    index_terminal(it->second, false);
    --by_state_[static_cast<size_t>(it->second.state)];
    if (!is_terminal(it->second.state)) --unfinished_;
    records_.erase(it);
  }
  TaskState state = record.state;
  const TaskRecord& slot = records_.emplace(record.spec.id, std::move(record)).first->second;
  ++by_state_[static_cast<size_t>(state)];
  if (!is_terminal(state)) ++unfinished_;
  index_terminal(slot, true);
}

std::vector<std::string> TaskTable::purge(const OpPurge& op) {
  std::vector<std::string> removed;
  // Both indexes are drained oldest first, together, so the bound cuts the
  // same records on every replica.
  while (removed.size() < op.max_records) {
    bool finished_due = !finished_.empty() && finished_.begin()->first < op.finished_before_ms;
    bool failed_due = !failed_.empty() && failed_.begin()->first < op.failed_before_ms;
    if (!finished_due && !failed_due) break;
    bool take_failed = failed_due && (!finished_due || *failed_.begin() < *finished_.begin());
    ExpiryIndex& index = take_failed ? failed_ : finished_;
    std::string id = index.begin()->second;
    index.erase(index.begin());
    auto it = records_.find(id);
    MESH_ASSERT(it != records_.end(), "a retention index names a record the table lacks");
    --by_state_[static_cast<size_t>(it->second.state)];
    records_.erase(it);
    removed.push_back(std::move(id));
  }
  return removed;
}

bool TaskTable::has_expired(uint64_t finished_before_ms, uint64_t failed_before_ms) const {
  return (!finished_.empty() && finished_.begin()->first < finished_before_ms) ||
         (!failed_.empty() && failed_.begin()->first < failed_before_ms);
}

void TaskTable::index_terminal(const TaskRecord& record, bool add) {
  if (!is_terminal(record.state)) return;
  ExpiryIndex& index = expiry_index(record.state);
  std::pair<uint64_t, std::string> key{record.finished_ms, record.spec.id};
  if (add) {
    index.insert(std::move(key));
  } else {
    index.erase(key);
  }
}

const TaskRecord* TaskTable::find(const std::string& id) const {
  auto it = records_.find(id);
  return it == records_.end() ? nullptr : &it->second;
}

void TaskTable::set_state(TaskRecord& record, TaskState state) {
  index_terminal(record, false);
  --by_state_[static_cast<size_t>(record.state)];
  ++by_state_[static_cast<size_t>(state)];
  if (!is_terminal(record.state) && is_terminal(state)) --unfinished_;
  // Retry leaves a terminal state: the record counts as unfinished again.
  if (is_terminal(record.state) && !is_terminal(state)) ++unfinished_;
  record.state = state;
  index_terminal(record, true);
}

bool TaskTable::end_attempt(TaskRecord& record, uint32_t attempt, AttemptOutcome outcome, uint64_t at_ms,
                            std::string error) {
  MESH_ASSERT(is_current_lease(record, attempt), "only a running attempt ends");
  auto entry = std::find_if(record.attempts.rbegin(), record.attempts.rend(),
                            [&](const AttemptInfo& a) { return a.attempt == attempt; });
  // The lease ends even when there is no attempt entry to close (a restored
  // record may lack its history); otherwise a PENDING record keeps an owner.
  if (entry != record.attempts.rend()) {
    entry->outcome = outcome;
    entry->ended_ms = at_ms;
    entry->error = error_text(std::move(error));
  }
  bool racing = record.backup.attempt != 0;
  if (racing && record.backup.attempt != attempt) {
    // The first attempt ended: the backup is the lease now.
    MESH_ASSERT(record.attempt == attempt, "an attempt ends that is neither the lease nor its backup");
    record.attempt = record.backup.attempt;
    record.lease_owner = record.backup.owner;
    record.lease_deadline_ms = record.backup.deadline_ms;
    record.timeout_at_ms = record.backup.timeout_at_ms;
  } else if (!racing) {
    record.lease_owner.clear();
    record.lease_deadline_ms = 0;
    record.timeout_at_ms = 0;
  }
  record.backup = {};
  return racing;
}

void TaskTable::start_attempt(TaskRecord& record, const OpLease& op) {
  // Lost attempts are not bounded by max_attempts, so the history keeps only
  // the latest kMaxAttemptHistory; `attempt` still numbers every one.
  if (record.attempts.size() >= limits::kMaxAttemptHistory) record.attempts.erase(record.attempts.begin());
  record.attempts.push_back(AttemptInfo{op.attempt, op.owner, op.at_ms, 0, AttemptOutcome::kRunning, {}, op.backup});
}

Result<TaskRecord*> TaskTable::leased(const std::string& id, uint32_t attempt) {
  auto it = records_.find(id);
  if (it == records_.end()) return Status(ErrorCode::kNotFound, "no task " + id);
  TaskRecord& r = it->second;
  if (!is_current_lease(r, attempt)) {
    return Status(ErrorCode::kStaleAttempt,
                  "task " + id + " attempt " + std::to_string(attempt) + " is not the current lease");
  }
  return &r;
}

Status TaskTable::check_new_id(const std::string& id) const {
  if (records_.count(id)) return Status(ErrorCode::kConflict, "task " + id + " exists");
  return check_not_held(id);
}

Status TaskTable::check_not_held(const std::string& id) const {
  if (const std::string* txn = locked_by(id)) {
    return Status(ErrorCode::kConflict, "task " + id + " is held by transaction " + *txn);
  }
  return Status::Ok();
}

const std::string* TaskTable::locked_by(const std::string& id) const {
  auto it = locked_ids_.find(id);
  return it == locked_ids_.end() ? nullptr : &it->second;
}

Status TaskTable::apply_op(const OpSubmit& op) {
  if (Status s = check_new_id(op.spec.id); !s.ok()) return s;
  TaskRecord r;
  r.spec = op.spec;
  r.partition = op.partition;
  r.state = op.spec.after.empty() ? TaskState::kPending : TaskState::kBlocked;
  r.submitted_ms = op.at_ms;
  r.not_before_ms = op.at_ms;
  ++by_state_[static_cast<size_t>(r.state)];
  records_.emplace(op.spec.id, std::move(r));
  ++unfinished_;
  if (touched_ != nullptr) touched_->push_back(op.spec.id);
  return Status::Ok();
}

Status TaskTable::apply_op(const OpLease& op) {
  auto it = records_.find(op.id);
  if (it == records_.end()) return Status(ErrorCode::kNotFound, "no task " + op.id);
  TaskRecord& r = it->second;
  if (op.backup) return lease_backup(r, op);
  if (r.state != TaskState::kPending) return Status(ErrorCode::kStaleAttempt, "task " + op.id + " is not pending");
  if (Status s = check_not_held(op.id); !s.ok()) return s;
  if (op.attempt != next_attempt(r)) return Status(ErrorCode::kStaleAttempt, "task " + op.id + " attempt out of order");
  set_state(r, TaskState::kLeased);
  r.attempt = op.attempt;
  r.lease_owner = op.owner;
  r.lease_deadline_ms = op.lease_deadline_ms;
  r.timeout_at_ms = op.timeout_at_ms;
  start_attempt(r, op);
  return Status::Ok();
}

Status TaskTable::lease_backup(TaskRecord& r, const OpLease& op) {
  const std::string& id = r.spec.id;
  if (r.state != TaskState::kLeased) return Status(ErrorCode::kStaleAttempt, "task " + id + " is not running");
  if (r.backup.attempt != 0) return Status(ErrorCode::kStaleAttempt, "task " + id + " has a backup attempt");
  if (op.owner == r.lease_owner) {
    return Status(ErrorCode::kInvalidArgument, "a backup attempt of task " + id + " runs on another node");
  }
  if (Status s = check_not_held(id); !s.ok()) return s;
  if (op.attempt != next_attempt(r)) return Status(ErrorCode::kStaleAttempt, "task " + id + " attempt out of order");
  r.backup = BackupLease{op.attempt, op.owner, op.lease_deadline_ms, op.timeout_at_ms};
  start_attempt(r, op);
  MESH_ASSERT(is_current_lease(r, r.attempt) && is_current_lease(r, op.attempt), "both racing attempts are leases");
  return Status::Ok();
}

Status TaskTable::apply_op(const OpRenew& op) {
  auto r = leased(op.id, op.attempt);
  if (!r.ok()) return r.status();
  // A renewal never shortens a lease: renewals may arrive out of order.
  uint64_t& deadline_ms =
      r.value()->attempt == op.attempt ? r.value()->lease_deadline_ms : r.value()->backup.deadline_ms;
  deadline_ms = std::max(deadline_ms, op.lease_deadline_ms);
  return Status::Ok();
}

Status TaskTable::apply_op(const OpComplete& op) {
  auto found = leased(op.id, op.attempt);
  if (!found.ok()) return found.status();
  TaskRecord& r = *found.value();
  r.lost_attempts = 0;
  if (end_attempt(r, op.attempt, AttemptOutcome::kSucceeded, op.at_ms, {})) {
    end_attempt(r, r.attempt, AttemptOutcome::kCancelled, op.at_ms,
                "superseded: attempt " + std::to_string(op.attempt) + " completed first");
  }
  r.finished_ms = op.at_ms;
  set_state(r, TaskState::kCompleted);
  r.result = op.output;
  r.error.clear();
  return Status::Ok();
}

Status TaskTable::apply_op(const OpFail& op) {
  auto found = leased(op.id, op.attempt);
  if (!found.ok()) return found.status();
  TaskRecord& r = *found.value();
  r.lost_attempts = 0;
  bool racing = end_attempt(r, op.attempt, op.outcome, op.at_ms, op.error);
  r.error = error_text(op.error);
  ++r.failures;
  if (racing) return Status::Ok();  // the other attempt runs on; it decides
  if (r.failures >= r.spec.max_attempts) {
    r.finished_ms = op.at_ms;
    set_state(r, TaskState::kFailed);
  } else {
    set_state(r, TaskState::kPending);
    r.not_before_ms = op.retry_at_ms;
  }
  return Status::Ok();
}

Status TaskTable::apply_op(const OpRelease& op) {
  auto found = leased(op.id, op.attempt);
  if (!found.ok()) return found.status();
  TaskRecord& r = *found.value();
  // Losing one of two racing runners is not a lost task: the other runs on.
  if (end_attempt(r, op.attempt, AttemptOutcome::kLost, op.at_ms, op.reason)) return Status::Ok();
  ++r.lost_attempts;
  if (op.max_lost_attempts > 0 && r.lost_attempts >= op.max_lost_attempts) {
    // A poison pill: whatever runs it vanishes. Rerunning it would take
    // down runner after runner.
    r.error = error_text_of_lost(r.lost_attempts, op.reason);
    r.finished_ms = op.at_ms;
    set_state(r, TaskState::kFailed);
    return Status::Ok();
  }
  set_state(r, TaskState::kPending);
  r.not_before_ms = op.at_ms;
  return Status::Ok();
}

Status TaskTable::apply_op(const OpCancel& op) {
  auto it = records_.find(op.id);
  if (it == records_.end()) return Status(ErrorCode::kNotFound, "no task " + op.id);
  TaskRecord& r = it->second;
  if (is_terminal(r.state)) return Status(ErrorCode::kAlreadyTerminal, "task " + op.id + " already finished");
  if (Status s = check_not_held(op.id); !s.ok()) return s;
  cancel(r, op.at_ms);
  return Status::Ok();
}

void TaskTable::cancel(TaskRecord& r, uint64_t at_ms) {
  MESH_ASSERT(!is_terminal(r.state), "only an unfinished task is cancelled");
  if (r.state == TaskState::kLeased && end_attempt(r, r.attempt, AttemptOutcome::kCancelled, at_ms, "cancelled")) {
    end_attempt(r, r.attempt, AttemptOutcome::kCancelled, at_ms, "cancelled");
  }
  r.finished_ms = at_ms;
  set_state(r, TaskState::kCancelled);
}

Status TaskTable::apply_op(const OpRetry& op) {
  auto it = records_.find(op.id);
  if (it == records_.end()) return Status(ErrorCode::kNotFound, "no task " + op.id);
  TaskRecord& r = it->second;
  if (r.state != TaskState::kFailed) return Status(ErrorCode::kConflict, "task " + op.id + " is not a dead letter");
  if (Status s = check_not_held(op.id); !s.ok()) return s;
  if (r.inputs.size() < r.spec.after.size()) {
    return Status(ErrorCode::kConflict, "task " + op.id + " failed upstream: retry its parents and submit it again");
  }
  set_state(r, TaskState::kPending);
  r.failures = 0;
  r.lost_attempts = 0;
  r.finished_ms = 0;
  r.not_before_ms = op.at_ms;
  return Status::Ok();
}

Status TaskTable::apply_op(const OpPurge& op) {
  purge(op);
  return Status::Ok();
}

// --- transactions ---------------------------------------------------------------------

void TaskTable::restore_transactions(PreparedTxns prepared, TxnDecisions decisions) {
  prepared_ = std::move(prepared);
  decisions_ = std::move(decisions);
  locked_ids_.clear();
  for (const auto& [txn, intents] : prepared_) {
    for (const auto& spec : intents.tasks) locked_ids_.emplace(spec.id, txn);
    for (const auto& id : intents.cancels) locked_ids_.emplace(id, txn);
  }
}

Status TaskTable::apply_op(const OpTxnPrepare& op) {
  if (auto held = prepared_.find(op.txn); held != prepared_.end()) {
    if (op.fence == held->second.fenced) return Status::Ok();  // resent
    return op.fence ? Status(ErrorCode::kConflict, "prepared here already")
                    : Status(ErrorCode::kAborted, "transaction " + op.txn + " was aborted");
  }
  if (op.fence) {
    prepared_.emplace(op.txn, PreparedTxn{op.coordinator, op.partition, {}, op.at_ms, {}, true});
    return Status::Ok();
  }
  if (!op.cancel_job.empty()) return prepare_cancel(op);
  std::set<std::string> ids;
  for (const auto& spec : op.tasks) {
    if (!ids.insert(spec.id).second) return Status(ErrorCode::kConflict, "task " + spec.id + " appears twice");
    if (Status s = check_new_id(spec.id); !s.ok()) return s;
  }
  for (const auto& spec : op.tasks) locked_ids_.emplace(spec.id, op.txn);
  prepared_.emplace(op.txn, PreparedTxn{op.coordinator, op.partition, op.tasks, op.at_ms});
  return Status::Ok();
}

Status TaskTable::apply_op(const OpTxnResolve& op) {
  auto it = prepared_.find(op.txn);
  if (it == prepared_.end()) return Status::Ok();  // never prepared here, or resolved already
  if (it->second.fenced) return Status::Ok();      // kept until forgotten
  PreparedTxn intents = std::move(it->second);
  prepared_.erase(it);
  for (const auto& spec : intents.tasks) locked_ids_.erase(spec.id);
  for (const auto& id : intents.cancels) {
    locked_ids_.erase(id);
    auto held = records_.find(id);  // finished since, it may even be purged
    if (held == records_.end() || is_terminal(held->second.state)) continue;  // its own op reported it
    if (op.commit) cancel(held->second, op.at_ms);
    // Held records were kept from new attempts: the leader schedules them anew.
    if (touched_ != nullptr) touched_->push_back(id);
  }
  if (!op.commit) return Status::Ok();
  for (auto& spec : intents.tasks) {
    std::string id = spec.id;
    Status s = apply_op(OpSubmit{std::move(spec), intents.partition, op.at_ms});
    MESH_ASSERT(s.ok(), "an intent's id was locked, yet it could not be stored");
    records_.at(id).txn = op.txn;
  }
  return Status::Ok();
}

// A job's tasks unfinished here now, held for the cancel. Scanning the
// table is fine for an operator's rare request; an index by job would cost
// every submit.
Status TaskTable::prepare_cancel(const OpTxnPrepare& op) {
  std::vector<std::string> held;
  for (const auto& [id, r] : records_) {
    if (r.txn != op.cancel_job || is_terminal(r.state)) continue;
    if (Status s = check_not_held(id); !s.ok()) return s;
    held.push_back(id);
  }
  for (const auto& id : held) locked_ids_.emplace(id, op.txn);
  prepared_.emplace(op.txn, PreparedTxn{op.coordinator, op.partition, {}, op.at_ms, std::move(held)});
  return Status::Ok();
}

// The rules are TxnDecideMode's.
Status TaskTable::apply_op(const OpTxnDecide& op) {
  auto it = decisions_.find(op.txn);
  bool staging = op.mode == TxnDecideMode::kStage;
  if (it == decisions_.end()) {
    decisions_.emplace(op.txn, TxnDecision{op.commit && !staging, op.participants, op.at_ms, staging});
    return Status::Ok();
  }
  TxnDecision& known = it->second;
  if (!known.staged) {
    return staging ? Status(ErrorCode::kConflict, "decided already") : Status::Ok();  // the first one wins
  }
  if (staging) {
    return known.participants == op.participants ? Status::Ok()
                                                 : Status(ErrorCode::kConflict, "staged with other participants");
  }
  if (op.mode == TxnDecideMode::kDecide && !op.commit) {
    return Status(ErrorCode::kConflict, "staged: its outcome is recovered from its participants");
  }
  known = TxnDecision{op.commit, known.participants, op.at_ms, false};
  return Status::Ok();
}

Status TaskTable::apply_op(const OpTxnForget& op) {
  if (!op.fence) {
    decisions_.erase(op.txn);
  } else if (auto it = prepared_.find(op.txn); it != prepared_.end() && it->second.fenced) {
    prepared_.erase(it);
  }
  return Status::Ok();
}

// --- dependencies -----------------------------------------------------------------------

Status TaskTable::apply_op(const OpParentsDone& op) {
  for (const auto& outcome : op.outcomes) apply_parent_outcome(outcome, op.at_ms);
  return Status::Ok();
}

void TaskTable::apply_parent_outcome(const ParentOutcome& outcome, uint64_t at_ms) {
  auto it = records_.find(outcome.child);
  if (it == records_.end()) return;
  TaskRecord& r = it->second;
  if (r.state != TaskState::kBlocked || r.inputs.count(outcome.parent)) return;  // resent, or settled already
  bool named = std::any_of(r.spec.after.begin(), r.spec.after.end(),
                           [&](const ParentRef& p) { return p.id == outcome.parent; });
  if (!named) return;
  size_t input_bytes = outcome.text.size();
  for (const auto& [parent, text] : r.inputs) input_bytes += text.size();
  std::string failure;
  if (!outcome.completed) {
    failure = "upstream_failed: parent " + outcome.parent + ": " + outcome.text;
  } else if (input_bytes > limits::kMaxInputBytes) {
    failure = "inputs_too_large: the parents' results exceed " + std::to_string(limits::kMaxInputBytes) + " bytes";
  }
  if (touched_ != nullptr) touched_->push_back(r.spec.id);
  if (!failure.empty()) {
    r.error = error_text(std::move(failure));
    r.finished_ms = at_ms;
    set_state(r, TaskState::kFailed);
    return;
  }
  r.inputs.emplace(outcome.parent, outcome.text);
  if (r.inputs.size() < r.spec.after.size()) return;
  MESH_ASSERT(r.inputs.size() == r.spec.after.size(), "a task holds inputs of tasks it does not wait for");
  r.not_before_ms = at_ms;
  set_state(r, TaskState::kPending);
}

}  // namespace mesh
