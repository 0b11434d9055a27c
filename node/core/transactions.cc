// Two-phase commit across partitions (the roles are in transactions.h).
#include "node/core/transactions.h"

#include <algorithm>

#include "node/core/assert.h"
#include "node/core/partitioning.h"
#include "protocol/limits.h"

namespace mesh {

// --- origin ---------------------------------------------------------------------------

void Transactions::submit(RequestRef request, std::string txn, std::vector<TaskSpec> tasks) {
  uint64_t id = next_id_++;
  Origin& o = origins_[id];
  o.request = request;
  o.txn = std::move(txn);
  o.coordinator = partition_of(o.txn, host_.partitions());
  o.started_ms = host_.now_ms();
  o.votes_deadline_ms = o.started_ms + config_.prepare_timeout_ms;
  o.deadline_ms = o.votes_deadline_ms + config_.prepare_timeout_ms;
  o.reply.txn = o.txn;
  for (const auto& spec : tasks) {
    o.reply.outcomes.push_back(SubmitOutcome{spec.id, ErrorCode::kOk, {}, false, TaskState::kPending});
  }
  if (tasks.empty()) return finish_origin(id, ErrorCode::kInvalidArgument, "an atomic submit needs tasks");
  std::set<std::string> ids;
  for (size_t i = 0; i < tasks.size(); ++i) {
    Status s = ids.insert(tasks[i].id).second
                   ? host_.admit(tasks[i])
                   : Status(ErrorCode::kInvalidArgument, "task " + tasks[i].id + " appears twice in the transaction");
    if (s.ok()) continue;
    o.reply.outcomes[i].code = s.code();
    o.reply.outcomes[i].message = s.message();
    o.refused = true;
  }
  if (o.refused) return finish_origin(id, ErrorCode::kAborted, "transaction aborted: a task was refused");
  for (size_t i = 0; i < tasks.size(); ++i) {
    uint32_t partition = partition_of(tasks[i].key.empty() ? tasks[i].id : tasks[i].key, host_.partitions());
    o.parts[partition].push_back(std::move(tasks[i]));
    o.slots[partition].push_back(i);
  }
  if (o.parts.size() > limits::kMaxTxnParticipants) {
    return finish_origin(id, ErrorCode::kTooLarge,
                         "a transaction may touch at most " + std::to_string(limits::kMaxTxnParticipants) +
                             " partitions; this one touches " + std::to_string(o.parts.size()));
  }
  send_prepares(id, o);
}

namespace {
std::vector<uint32_t> participants_of(const std::map<uint32_t, std::vector<TaskSpec>>& parts) {
  std::vector<uint32_t> participants;
  for (const auto& [partition, part] : parts) participants.push_back(partition);
  return participants;
}
// A decide may name none (a job cancel settling the job's submit); a stage may not.
bool named_right(const std::vector<uint32_t>& participants, uint32_t partitions) {
  return participants.size() <= limits::kMaxTxnParticipants &&
         std::all_of(participants.begin(), participants.end(), [&](uint32_t p) { return p < partitions; });
}
}  // namespace

void Transactions::send_prepares(uint64_t origin_id, Origin& o) {
  host_.count("txns_started");
  // A job cancel commits through its decision alone, answered once resolved.
  o.staged = !o.cancel_job.empty();
  std::vector<TxnRequest> prepares;
  for (const auto& [partition, part] : o.parts) {
    o.unvoted.insert(partition);
    TxnRequest prepare;
    prepare.step = TxnStep::kPrepare;
    prepare.txn = o.txn;
    prepare.partition = partition;
    prepare.coordinator = o.coordinator;
    prepare.tasks = part;
    prepare.cancel_job = o.cancel_job;
    prepares.push_back(std::move(prepare));
  }
  if (!o.staged) send_stage(origin_id, o);
  // A partition this node leads may answer at once, and a refusal decides:
  // every vote is awaited before the first goes out, and none after the end.
  for (auto& prepare : prepares) {
    if (!origins_.count(origin_id) || origins_.at(origin_id).deciding) return;
    call(std::move(prepare), origin_id);
  }
}

// The stage goes beside the prepares: the participants, written in the
// coordinator partition, from where a recovery finds them.
void Transactions::send_stage(uint64_t origin_id, const Origin& o) {
  TxnRequest stage;
  stage.step = TxnStep::kStage;
  stage.txn = o.txn;
  stage.partition = o.coordinator;
  stage.coordinator = o.coordinator;
  stage.participants = participants_of(o.parts);
  call(std::move(stage), origin_id);
}

// Refused: decided already (a resent transaction), or staged by another
// origin with other participants. The decide asked for next answers with
// the outcome that won.
void Transactions::on_staged(uint64_t origin_id, bool staged) {
  Origin& o = origins_.at(origin_id);
  if (o.deciding) return;
  if (staged) {
    o.staged = true;
  } else {
    o.refused = true;
  }
  maybe_decide(origin_id);
}

void Transactions::maybe_decide(uint64_t origin_id) {
  Origin& o = origins_.at(origin_id);
  if (o.deciding) return;
  if (o.refused) return decide(origin_id, false);
  if (!o.unvoted.empty() || !o.staged) return;
  // Every participant prepared, and the stage was written first: committed,
  // whatever becomes of this node (a recovery finds every participant
  // prepared). The client hears it now; the commit is written next.
  if (o.cancel_job.empty()) answer_committed(o);
  decide(origin_id, true);
}

void Transactions::answer_committed(Origin& o) {
  for (auto& outcome : o.reply.outcomes) outcome = SubmitOutcome{outcome.id, ErrorCode::kOk, {}, false, TaskState::kPending};
  host_.answer_client(o.request, o.reply);
  o.answered = true;
}

void Transactions::on_vote(Origin& o, const TxnReply& m) {
  if (o.deciding || !o.unvoted.erase(m.partition)) return;
  if (!o.cancel_job.empty()) return on_cancel_vote(o, m);
  if (!m.commit) {
    o.refused = true;
    for (const auto& refused : m.outcomes) {
      for (auto& outcome : o.reply.outcomes) {
        if (outcome.id == refused.id) outcome = refused;
      }
    }
  }
}

void Transactions::decide(uint64_t origin_id, bool commit) {
  Origin& o = origins_.at(origin_id);
  o.deciding = true;
  // Prepares still out are not needed any more (an abort resolves every
  // partition asked, prepared or not).
  end_calls_of(origin_id);
  TxnRequest decide;
  decide.step = TxnStep::kDecide;
  decide.txn = o.txn;
  decide.partition = o.coordinator;
  decide.coordinator = o.coordinator;
  decide.commit = commit;
  decide.participants = participants_of(o.parts);
  call(std::move(decide), origin_id);
}

// The decision that won is the answer: a commit stored every task, whatever
// the votes this origin saw (a resent transaction meets its own tasks).
void Transactions::on_decided(uint64_t origin_id, bool commit) {
  if (!origins_.at(origin_id).cancel_job.empty()) return on_cancel_decided(origin_id, commit);
  if (origins_.at(origin_id).answered) {
    MESH_ASSERT(commit, "a transaction answered as committed was aborted");
    return finish_origin(origin_id, ErrorCode::kOk, {});
  }
  if (commit) {
    for (auto& outcome : origins_.at(origin_id).reply.outcomes) {
      outcome = SubmitOutcome{outcome.id, ErrorCode::kOk, {}, false, TaskState::kPending};
    }
    return finish_origin(origin_id, ErrorCode::kOk, {});
  }
  finish_origin(origin_id, ErrorCode::kAborted, "transaction aborted: none of its tasks was stored");
}

// Outcomes without a code of their own take `code`: the one that caused an
// abort keeps its reason, the rest say the transaction aborted.
void Transactions::finish_origin(uint64_t origin_id, ErrorCode code, const std::string& message) {
  auto it = origins_.find(origin_id);
  Origin& o = it->second;
  if (!o.cancel_job.empty()) return finish_cancel(origin_id, code, message);
  for (auto& outcome : o.reply.outcomes) {
    if (outcome.code != ErrorCode::kOk) continue;
    outcome.code = code;
    outcome.message = message;
  }
  // Answered already (committed): the commit written, or left to recovery.
  if (!o.answered) host_.answer_client(o.request, std::move(o.reply));
  end_calls_of(origin_id);
  origins_.erase(it);
}

// --- participant --------------------------------------------------------------------

// Adds `m` to the requests waiting for one op, unless it is a resend of one
// already there.
void Transactions::add_waiter(std::vector<TxnRequest>& waits, const TxnRequest& m) {
  bool resent = std::any_of(waits.begin(), waits.end(), [&](const TxnRequest& w) {
    return w.handle == m.handle && w.from_address == m.from_address;
  });
  if (!resent) waits.push_back(m);
}

void Transactions::serve_prepare(const TxnRequest& m) {
  if (refuse_unless_leading(m)) return;
  if (auto w = vote_waits_.find({m.partition, m.txn}); w != vote_waits_.end()) return add_waiter(w->second, m);
  const TaskTable& table = *host_.led_table(m.partition);
  TxnReply vote = answer_of(m, ErrorCode::kOk, true);
  if (auto held = table.prepared().find(m.txn); held != table.prepared().end()) {
    if (!held->second.fenced) return reply(m, std::move(vote));  // prepared already: the vote was lost
    return reply(m, refused_vote(m, Status(ErrorCode::kAborted, "transaction " + m.txn + " was aborted")));
  }
  for (const auto& spec : m.tasks) {
    Status s = table.check_new_id(spec.id);
    if (s.ok()) s = host_.admit(spec);
    if (!s.ok()) {
      vote.commit = false;
      vote.outcomes.push_back(SubmitOutcome{spec.id, s.code(), s.message(), false, TaskState::kPending});
    }
  }
  if (!vote.commit) {
    host_.count("txn_prepares_refused");
    return reply(m, std::move(vote));
  }
  if (!host_.propose(m.partition,
                     OpTxnPrepare{m.txn, m.coordinator, m.partition, m.tasks, host_.now_ms(), m.cancel_job})) {
    return reply(m, not_leader(m));
  }
  vote_waits_[{m.partition, m.txn}].push_back(m);
}

// A no, with the reason for each task (a job cancel's under the job's id).
TxnReply Transactions::refused_vote(const TxnRequest& m, const Status& status) {
  TxnReply vote = answer_of(m, ErrorCode::kOk, false);
  for (const auto& spec : m.tasks) {
    vote.outcomes.push_back(SubmitOutcome{spec.id, status.code(), status.message(), false, TaskState::kPending});
  }
  if (!m.cancel_job.empty()) vote.outcomes.push_back(SubmitOutcome{m.cancel_job, status.code(), status.message(), false, {}});
  return vote;
}

// Recovering a staged transaction: prepared here (commit = true), or fenced,
// so that it never prepares here.
void Transactions::serve_fence(const TxnRequest& m) {
  if (refuse_unless_leading(m)) return;
  PartitionTxn key{m.partition, m.txn};
  if (auto w = fence_waits_.find(key); w != fence_waits_.end()) return add_waiter(w->second, m);
  const TaskTable& table = *host_.led_table(m.partition);
  // Intents leave only through a resolve, which needs a decision: the answer holds.
  if (auto held = table.prepared().find(m.txn); held != table.prepared().end()) {
    return reply(m, answer_of(m, ErrorCode::kOk, !held->second.fenced));
  }
  OpTxnPrepare fence{m.txn, m.coordinator, m.partition, {}, host_.now_ms()};
  fence.fence = true;
  if (!host_.propose(m.partition, std::move(fence))) return reply(m, not_leader(m));
  fence_waits_[key].push_back(m);
}

// A resolve is always written, even where nothing is prepared as far as this
// table knows: a prepare committed by an earlier leader may not be applied
// here yet, and the resolve, coming after it in the log, settles it.
void Transactions::serve_resolve(const TxnRequest& m) {
  if (refuse_unless_leading(m)) return;
  if (auto w = resolve_waits_.find({m.partition, m.txn}); w != resolve_waits_.end()) return add_waiter(w->second, m);
  if (!host_.propose(m.partition, OpTxnResolve{m.txn, m.commit, host_.now_ms()})) {
    return reply(m, not_leader(m));
  }
  resolve_waits_[{m.partition, m.txn}].push_back(m);
}

// --- coordinator --------------------------------------------------------------------

void Transactions::serve_decide(const TxnRequest& m) {
  if (refuse_unless_leading(m)) return;
  PartitionTxn key{m.partition, m.txn};
  auto resolving = resolving_.find(key);
  if (resolving != resolving_.end()) {
    add_waiter(resolving->second.decide_waits, m);
    if (resolving->second.unresolved.empty()) answer_decides(resolving->second);
    return;
  }
  if (auto w = decide_waits_.find(key); w != decide_waits_.end()) return add_waiter(w->second, m);
  if (!named_right(m.participants, host_.partitions())) return reply(m, answer_of(m, ErrorCode::kInvalidArgument));
  // A staged transaction may have committed without this decision: an
  // abort is what its recovery finds, not what is asked.
  if (!m.commit && staged(m.partition, m.txn) != nullptr) {
    decide_waits_[key].push_back(m);
    return recover(m.partition, m.txn);
  }
  if (!host_.propose(m.partition, OpTxnDecide{m.txn, m.commit, m.participants, host_.now_ms()})) {
    return reply(m, not_leader(m));
  }
  decide_waits_[key].push_back(m);
}

void Transactions::serve_stage(const TxnRequest& m) {
  if (refuse_unless_leading(m)) return;
  PartitionTxn key{m.partition, m.txn};
  if (resolving_.count(key)) return reply(m, answer_of(m, ErrorCode::kOk, false));  // decided already
  if (auto w = stage_waits_.find(key); w != stage_waits_.end()) return add_waiter(w->second, m);
  if (m.participants.empty() || !named_right(m.participants, host_.partitions())) {
    return reply(m, answer_of(m, ErrorCode::kInvalidArgument));
  }
  OpTxnDecide stage{m.txn, false, m.participants, host_.now_ms(), TxnDecideMode::kStage};
  if (!host_.propose(m.partition, std::move(stage))) return reply(m, not_leader(m));
  stage_waits_[key].push_back(m);
}

const TxnDecision* Transactions::staged(uint32_t coordinator, const std::string& txn) const {
  const TaskTable* table = host_.led_table(coordinator);
  if (table == nullptr) return nullptr;
  auto it = table->decisions().find(txn);
  return it != table->decisions().end() && it->second.staged ? &it->second : nullptr;
}

// Every participant is asked to fence the transaction. One fenced decides
// abort at once; all prepared decide commit. Volatile: a new leader
// recovers again, at the next inquiry or at the stage's deadline.
void Transactions::recover(uint32_t coordinator, const std::string& txn) {
  PartitionTxn key{coordinator, txn};
  const TxnDecision* stage = staged(coordinator, txn);
  if (stage == nullptr || recovering_.count(key)) return;
  host_.count("txn_recoveries");
  std::vector<uint32_t> participants = stage->participants;
  recovering_[key].unanswered.insert(participants.begin(), participants.end());
  for (uint32_t p : participants) {
    auto it = recovering_.find(key);
    if (it == recovering_.end() || it->second.deciding) return;  // a fence answered at once decided it
    TxnRequest fence;
    fence.step = TxnStep::kFence;
    fence.txn = txn;
    fence.partition = p;
    fence.coordinator = coordinator;
    uint64_t call_id = call(std::move(fence), 0);
    it = recovering_.find(key);
    if (it != recovering_.end() && calls_.count(call_id)) it->second.calls[p] = call_id;
  }
}

void Transactions::on_fenced(uint32_t coordinator, const std::string& txn, uint32_t participant, bool prepared) {
  PartitionTxn key{coordinator, txn};
  auto it = recovering_.find(key);
  if (it == recovering_.end() || it->second.deciding || !it->second.unanswered.erase(participant)) return;
  it->second.calls.erase(participant);
  if (!prepared) return decide_recovered(key, false);
  if (it->second.unanswered.empty()) decide_recovered(key, true);
}

void Transactions::decide_recovered(const PartitionTxn& key, bool commit) {
  Recovery& r = recovering_.at(key);
  for (const auto& [p, call_id] : r.calls) end_call(call_id);
  r.calls.clear();
  const TxnDecision* stage = staged(key.first, key.second);
  r.deciding = stage != nullptr &&
               host_.propose(key.first, OpTxnDecide{key.second, commit, stage->participants, host_.now_ms(),
                                                    TxnDecideMode::kRecovered});
  if (!r.deciding) recovering_.erase(key);  // recovered again later
}

void Transactions::end_recovery(const PartitionTxn& key) {
  auto it = recovering_.find(key);
  if (it == recovering_.end()) return;
  for (const auto& [p, call_id] : it->second.calls) end_call(call_id);
  recovering_.erase(it);
}

void Transactions::serve_inquire(const TxnRequest& m) {
  if (m.participants.size() != 1 || m.participants[0] >= host_.partitions()) {
    return reply(m, answer_of(m, ErrorCode::kInvalidArgument));
  }
  if (refuse_unless_leading(m)) return;
  host_.count("txn_inquiries");
  PartitionTxn key{m.partition, m.txn};
  uint32_t participant = m.participants[0];
  auto resolving = resolving_.find(key);
  if (resolving != resolving_.end()) {
    resolve_at(m.partition, m.txn, resolving->second, participant);
    return reply(m, answer_of(m, ErrorCode::kOk));
  }
  bool first = inquirers_[key].insert(participant).second;
  if (staged(m.partition, m.txn) != nullptr) {
    recover(m.partition, m.txn);
  } else if (first && !decide_waits_.count(key)) {
    // Presumed abort: nobody decided or staged; the abort is written, so
    // that a late commit or stage finds it.
    if (!host_.propose(m.partition, OpTxnDecide{m.txn, false, {participant}, host_.now_ms()})) {
      inquirers_[key].erase(participant);
    }
  }
  reply(m, answer_of(m, ErrorCode::kOk));
}

void Transactions::start_resolving(uint32_t coordinator, const std::string& txn, const TxnDecision& decision) {
  PartitionTxn key{coordinator, txn};
  if (resolving_.count(key)) return;
  Resolving& r = resolving_[key];
  r.commit = decision.commit;
  r.since_ms = host_.now_ms();
  auto waits = decide_waits_.find(key);
  if (waits != decide_waits_.end()) {
    r.decide_waits = std::move(waits->second);
    decide_waits_.erase(waits);
  }
  std::set<uint32_t> participants(decision.participants.begin(), decision.participants.end());
  auto inquirers = inquirers_.find(key);
  if (inquirers != inquirers_.end()) {
    participants.insert(inquirers->second.begin(), inquirers->second.end());
    inquirers_.erase(inquirers);
  }
  for (uint32_t p : participants) resolve_at(coordinator, txn, r, p);
  if (r.unresolved.empty()) answer_decides(r);
}

void Transactions::resolve_at(uint32_t coordinator, const std::string& txn, Resolving& r, uint32_t participant) {
  // A participant resolved before may ask again (it prepared a resend of
  // the prepare since): it is resolved again.
  if (auto it = r.calls.find(participant); it != r.calls.end() && calls_.count(it->second)) return;
  if (r.forgetting) return;  // it asks again once the decision is forgotten: then presumed abort answers
  r.forget_at_ms = 0;
  r.unresolved.insert(participant);
  TxnRequest resolve;
  resolve.step = TxnStep::kResolve;
  resolve.txn = txn;
  resolve.partition = participant;
  resolve.coordinator = coordinator;
  resolve.commit = r.commit;
  r.calls[participant] = call(std::move(resolve), 0);
}

void Transactions::on_resolved(uint32_t coordinator, const std::string& txn, uint32_t participant) {
  auto it = resolving_.find({coordinator, txn});
  if (it == resolving_.end()) return;
  Resolving& r = it->second;
  if (!r.unresolved.erase(participant)) return;
  if (!r.unresolved.empty()) return;
  answer_decides(r);
}

void Transactions::answer_decides(Resolving& r) {
  if (r.forget_at_ms == 0) r.forget_at_ms = host_.now_ms() + config_.keep_decision_ms;
  for (const auto& m : r.decide_waits) {
    reply(m, answer_of(m, ErrorCode::kOk, r.commit));
  }
  r.decide_waits.clear();
}

// --- applied ops and leadership --------------------------------------------------------

void Transactions::on_applied(uint32_t partition, const TaskOp& op, const Status& status, bool leading) {
  if (const auto* prepare = std::get_if<OpTxnPrepare>(&op)) {
    on_prepare_applied(PartitionTxn{partition, prepare->txn}, *prepare, status, leading);
  } else if (const auto* resolve = std::get_if<OpTxnResolve>(&op)) {
    PartitionTxn key{partition, resolve->txn};
    if (auto doubt = doubts_.find(key); doubt != doubts_.end()) {
      host_.record_in_doubt(host_.now_ms() - doubt->second.since_ms);
      doubts_.erase(doubt);
    }
    if (auto inquiry = inquiries_.find(key); inquiry != inquiries_.end()) {
      end_call(inquiry->second);
      inquiries_.erase(inquiry);
    }
    auto waits = resolve_waits_.find(key);
    if (waits == resolve_waits_.end()) return;
    for (const auto& m : waits->second) reply(m, answer_of(m, ErrorCode::kOk, m.commit));
    resolve_waits_.erase(waits);
  } else if (const auto* decide = std::get_if<OpTxnDecide>(&op)) {
    on_decide_applied(partition, *decide, status, leading);
  } else if (const auto* forget = std::get_if<OpTxnForget>(&op); forget != nullptr && !forget->fence) {
    auto it = resolving_.find({partition, forget->txn});
    if (it == resolving_.end()) return;
    for (const auto& [p, call_id] : it->second.calls) end_call(call_id);
    resolving_.erase(it);
  }
}

void Transactions::on_prepare_applied(const PartitionTxn& key, const OpTxnPrepare& prepare, const Status& status,
                                      bool leading) {
  // A fence outlives its resolve: any origin has given up before it is forgotten.
  if (leading && status.ok() && prepare.fence) fence_forgets_.emplace(key, host_.now_ms() + config_.keep_decision_ms);
  if (leading && status.ok() && !prepare.fence) {
    doubts_.emplace(key, Doubt{host_.now_ms(), host_.now_ms() + config_.prepare_timeout_ms});
  }
  auto& waiting = prepare.fence ? fence_waits_ : vote_waits_;
  auto waits = waiting.find(key);
  if (waits == waiting.end()) return;
  for (const auto& m : waits->second) {
    if (prepare.fence) {
      reply(m, answer_of(m, ErrorCode::kOk, status.code() == ErrorCode::kConflict));  // kConflict: prepared before
    } else {
      reply(m, status.ok() ? answer_of(m, ErrorCode::kOk, true) : refused_vote(m, status));
    }
  }
  waiting.erase(waits);
}

void Transactions::on_decide_applied(uint32_t partition, const OpTxnDecide& decide, const Status& status,
                                     bool leading) {
  PartitionTxn key{partition, decide.txn};
  if (auto waits = stage_waits_.find(key); waits != stage_waits_.end() && decide.mode == TxnDecideMode::kStage) {
    for (const auto& m : waits->second) reply(m, answer_of(m, ErrorCode::kOk, status.ok()));
    stage_waits_.erase(waits);
  }
  const TaskTable* table = leading ? host_.led_table(partition) : nullptr;
  if (table == nullptr) return;
  auto decision = table->decisions().find(decide.txn);
  MESH_ASSERT(decision != table->decisions().end(), "a decision just applied is missing");
  if (decision->second.staged) {
    // Undecided: recovered once its origin must have given up, or at once
    // when an abort was asked for (the abort was refused).
    stage_deadlines_.try_emplace(key, host_.now_ms() + 2 * config_.prepare_timeout_ms);
    if (decide.mode != TxnDecideMode::kStage) recover(partition, decide.txn);
    return;
  }
  stage_deadlines_.erase(key);
  end_recovery(key);
  if (!resolving_.count(key)) {
    host_.count(decision->second.commit ? "txns_committed" : "txns_aborted");
    host_.event(decision->second.commit ? "txn_committed" : "txn_aborted", decide.txn,
                std::to_string(decision->second.participants.size()) + " partitions, coordinator partition " +
                    std::to_string(partition));
  }
  start_resolving(partition, decide.txn, decision->second);
}

void Transactions::on_lead_start(uint32_t partition, const TaskTable& table) {
  uint64_t now = host_.now_ms();
  for (const auto& [txn, intents] : table.prepared()) {
    if (intents.fenced) {
      fence_forgets_.emplace(PartitionTxn{partition, txn}, now + config_.keep_decision_ms);
    } else {
      doubts_.emplace(PartitionTxn{partition, txn}, Doubt{now, now + config_.prepare_timeout_ms});
    }
  }
  for (const auto& [txn, decision] : table.decisions()) {
    if (decision.staged) {
      stage_deadlines_.emplace(PartitionTxn{partition, txn}, now + 2 * config_.prepare_timeout_ms);
    } else {
      start_resolving(partition, txn, decision);
    }
  }
}

// What waits on a partition's log is dropped: whoever asked asks again, and
// the partition's next leader resumes from its table.
void Transactions::on_lead_end(uint32_t partition) {
  auto of_partition = [partition](const auto& entry) { return entry.first.first == partition; };
  auto drop = [&](auto& map) { std::erase_if(map, of_partition); };
  drop(vote_waits_);
  drop(resolve_waits_);
  drop(fence_waits_);
  drop(doubts_);
  drop(decide_waits_);
  drop(inquirers_);
  drop(stage_waits_);
  drop(stage_deadlines_);
  drop(fence_forgets_);
  std::vector<PartitionTxn> recoveries;
  for (const auto& [key, r] : recovering_) {
    if (key.first == partition) recoveries.push_back(key);
  }
  for (const auto& key : recoveries) end_recovery(key);
  for (auto it = inquiries_.begin(); it != inquiries_.end();) {
    if (it->first.first != partition) {
      ++it;
      continue;
    }
    end_call(it->second);
    it = inquiries_.erase(it);
  }
  for (auto it = resolving_.begin(); it != resolving_.end();) {
    if (it->first.first != partition) {
      ++it;
      continue;
    }
    for (const auto& [p, call_id] : it->second.calls) end_call(call_id);
    it = resolving_.erase(it);
  }
}

// --- messages --------------------------------------------------------------------------

void Transactions::on_request(const TxnRequest& m) {
  switch (m.step) {
    case TxnStep::kPrepare: return serve_prepare(m);
    case TxnStep::kDecide: return serve_decide(m);
    case TxnStep::kResolve: return serve_resolve(m);
    case TxnStep::kInquire: return serve_inquire(m);
    case TxnStep::kStage: return serve_stage(m);
    case TxnStep::kFence: return serve_fence(m);
  }
}

void Transactions::on_reply(const TxnReply& m) {
  auto it = calls_.find(m.handle);
  if (it == calls_.end() || it->second.request.txn != m.txn || it->second.request.step != m.step) return;
  Call& c = it->second;
  if (m.code == ErrorCode::kNotLeader || m.code == ErrorCode::kBusy) {
    // A leader named anew is asked at once; otherwise the next candidate,
    // after a pause (an election takes its time).
    bool named_anew = !m.leader_address.empty() && m.leader_address != c.target;
    c.target = named_anew ? m.leader_address : std::string{};
    c.resend_at_ms = host_.now_ms() + (named_anew ? 0 : config_.resend_ms);
    return;
  }
  TxnRequest request = c.request;
  uint64_t origin_id = c.origin;
  end_call(m.handle);
  switch (request.step) {
    case TxnStep::kPrepare: {
      auto o = origins_.find(origin_id);
      if (o == origins_.end()) return;
      on_vote(o->second, m);
      return maybe_decide(origin_id);
    }
    case TxnStep::kStage:
      if (origins_.count(origin_id)) on_staged(origin_id, m.code == ErrorCode::kOk && m.commit);
      return;
    case TxnStep::kFence:
      // An error is no answer: the recovery ends, to be asked again.
      if (m.code != ErrorCode::kOk) return end_recovery({request.coordinator, request.txn});
      return on_fenced(request.coordinator, request.txn, request.partition, m.commit);
    case TxnStep::kDecide: {
      auto o = origins_.find(origin_id);
      if (o == origins_.end()) return;
      if (o->second.cancel_step == CancelStep::kSettling) return on_job_settled(origin_id);
      return on_decided(origin_id, m.commit);
    }
    case TxnStep::kResolve:
      return on_resolved(request.coordinator, request.txn, request.partition);
    case TxnStep::kInquire: {
      // Noted: the coordinator resolves this partition; ask again later if
      // it does not.
      PartitionTxn key{request.participants.at(0), request.txn};
      inquiries_.erase(key);
      if (auto doubt = doubts_.find(key); doubt != doubts_.end()) {
        doubt->second.ask_at_ms = host_.now_ms() + config_.prepare_timeout_ms;
      }
      return;
    }
  }
}

void Transactions::tick() {
  uint64_t now = host_.now_ms();
  // Participants ask about intents held too long.
  for (auto it = doubts_.begin(); it != doubts_.end();) {
    const PartitionTxn& key = it->first;
    uint64_t& at = it->second.ask_at_ms;
    const TaskTable* table = host_.led_table(key.first);
    if (now < at || inquiries_.count(key) || table == nullptr) {
      if (now >= at) at = now + config_.resend_ms;  // asked already, or not writable now: later
      ++it;
      continue;
    }
    auto intents = table->prepared().find(key.second);
    if (intents == table->prepared().end()) {
      it = doubts_.erase(it);  // resolved meanwhile
      continue;
    }
    host_.count("txn_inquiries_sent");
    TxnRequest inquire;
    inquire.step = TxnStep::kInquire;
    inquire.txn = key.second;
    inquire.partition = intents->second.coordinator;
    inquire.coordinator = intents->second.coordinator;
    inquire.participants = {key.first};
    at = now + config_.prepare_timeout_ms;
    PartitionTxn asked = key;
    ++it;
    uint64_t call_id = call(std::move(inquire), 0);
    if (calls_.count(call_id)) inquiries_[asked] = call_id;  // not answered at once (by this node)
  }
  // Origins: votes that did not come abort; a decision that did not come
  // leaves the client with kUnavailable (the outcome is then unknown to it).
  std::vector<uint64_t> overdue;
  for (const auto& [id, o] : origins_) {
    if (now >= o.deadline_ms || (!o.deciding && now >= o.votes_deadline_ms)) overdue.push_back(id);
  }
  for (uint64_t id : overdue) {
    Origin& o = origins_.at(id);
    if (now >= o.deadline_ms) {
      finish_origin(id, ErrorCode::kUnavailable,
                    "no decision from the coordinator partition in time: the outcome is unknown; get the ids");
    } else {
      for (uint32_t p : o.unvoted) {
        for (size_t slot : o.slots[p]) {
          o.reply.outcomes[slot].code = ErrorCode::kUnavailable;
          o.reply.outcomes[slot].message = "partition " + std::to_string(p) + " did not vote in time";
        }
      }
      o.refused = true;
      decide(id, false);
    }
  }
  // Coordinators recover stages left undecided.
  std::vector<PartitionTxn> stale_stages;
  for (auto& [key, at] : stage_deadlines_) {
    if (now < at) continue;
    at = now + config_.prepare_timeout_ms;
    stale_stages.push_back(key);
  }
  for (const auto& key : stale_stages) recover(key.first, key.second);
  // Participants forget their fences.
  for (auto it = fence_forgets_.begin(); it != fence_forgets_.end();) {
    if (now < it->second) {
      ++it;
    } else if (host_.propose(it->first.first, OpTxnForget{it->first.second, true})) {
      it = fence_forgets_.erase(it);
    } else {
      (it++)->second = now + config_.resend_ms;
    }
  }
  // Coordinators forget decisions resolved everywhere and old enough.
  for (auto& [key, r] : resolving_) {
    if (r.forgetting || !r.unresolved.empty() || r.forget_at_ms == 0 || now < r.forget_at_ms) continue;
    r.forgetting = host_.propose(key.first, OpTxnForget{key.second});
    if (!r.forgetting) r.forget_at_ms = now + config_.resend_ms;
  }
  // Unanswered calls go again, to the next candidate.
  std::vector<uint64_t> due;
  for (const auto& [id, c] : calls_) {
    if (now >= c.resend_at_ms) due.push_back(id);
  }
  for (uint64_t id : due) {
    if (calls_.count(id)) send_call(id);
  }
}

std::optional<uint64_t> Transactions::next_wake() const {
  std::optional<uint64_t> wake;
  auto at = [&](uint64_t t) { wake = wake ? std::min(*wake, t) : t; };
  for (const auto& [id, c] : calls_) at(c.resend_at_ms);
  for (const auto& [key, doubt] : doubts_) at(doubt.ask_at_ms);
  for (const auto& [key, deadline] : stage_deadlines_) at(deadline);
  for (const auto& [key, forget_at] : fence_forgets_) at(forget_at);
  for (const auto& [id, o] : origins_) at(o.deciding ? o.deadline_ms : o.votes_deadline_ms);
  for (const auto& [key, r] : resolving_) {
    if (r.forget_at_ms != 0 && !r.forgetting) at(r.forget_at_ms);
  }
  return wake;
}

std::vector<TxnInfo> Transactions::view() const {
  std::vector<TxnInfo> out;
  uint64_t now = host_.now_ms();
  for (const auto& [id, o] : origins_) {
    const char* state = o.cancel_step == CancelStep::kSettling    ? "settling"
                        : o.cancel_step != CancelStep::kVoting     ? "listing"
                        : o.answered                               ? "committing"
                        : o.deciding                               ? "deciding"
                                                                   : "preparing";
    out.push_back({o.txn, "origin", state, o.coordinator, now - o.started_ms});
  }
  for (const auto& [key, doubt] : doubts_) {
    out.push_back({key.second, "participant", "prepared", key.first, now - doubt.since_ms});
  }
  for (const auto& [key, r] : resolving_) {
    out.push_back({key.second, "coordinator", r.commit ? "committed" : "aborted", key.first, now - r.since_ms});
  }
  for (const auto& [key, deadline] : stage_deadlines_) {
    const TxnDecision* stage = staged(key.first, key.second);
    uint64_t since = stage != nullptr ? std::min(stage->decided_ms, now) : now;
    out.push_back({key.second, "coordinator", recovering_.count(key) ? "recovering" : "staged", key.first, now - since});
  }
  return out;
}

// --- calls -------------------------------------------------------------------------------

uint64_t Transactions::call(TxnRequest request, uint64_t origin) {
  uint64_t id = next_id_++;
  request.handle = id;
  request.from_address = host_.address();
  calls_[id] = Call{std::move(request), origin, {}, 0, 0};
  send_call(id);
  return id;
}

void Transactions::send_call(uint64_t call_id) {
  Call& c = calls_.at(call_id);
  ++c.tries;
  c.resend_at_ms = host_.now_ms() + config_.resend_ms;
  uint32_t partition = c.request.partition;
  bool hinted_elsewhere = !c.target.empty() && c.target != host_.address();
  if (host_.led_table(partition) != nullptr && !hinted_elsewhere) {
    TxnRequest request = c.request;
    return on_request(request);  // may answer at once, ending the call
  }
  if (c.target.empty() || c.target == host_.address()) {
    auto candidates = host_.candidates(partition);
    if (candidates.empty()) return;  // nobody to ask yet: the resend comes back
    c.target = candidates[(c.tries - 1) % candidates.size()];
  }
  std::string target = c.target;
  if (c.tries > 1) c.target.clear();  // unanswered once: the next resend rotates
  host_.send(target, c.request);
}

void Transactions::end_call(uint64_t call_id) { calls_.erase(call_id); }

void Transactions::end_calls_of(uint64_t origin_id) {
  std::erase_if(calls_, [origin_id](const auto& entry) { return entry.second.origin == origin_id; });
}

TxnReply Transactions::answer_of(const TxnRequest& m, ErrorCode code, bool commit) {
  return TxnReply{m.step, m.handle, m.txn, m.partition, code, {}, commit, {}};
}

TxnReply Transactions::not_leader(const TxnRequest& m) const {
  TxnReply r = answer_of(m, ErrorCode::kNotLeader);
  r.leader_address = host_.leader_address(m.partition);
  return r;
}

void Transactions::reply(const TxnRequest& to, TxnReply r) {
  if (to.from_address == host_.address()) return on_reply(r);
  host_.send(to.from_address, std::move(r));
}

bool Transactions::refuse_unless_leading(const TxnRequest& m) {
  if (m.partition >= host_.partitions()) {
    reply(m, answer_of(m, ErrorCode::kInvalidArgument));
    return true;
  }
  if (host_.led_table(m.partition) != nullptr) return false;
  reply(m, not_leader(m));
  return true;
}

}  // namespace mesh
