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

void Transactions::send_prepares(uint64_t origin_id, Origin& o) {
  host_.count("txns_started");
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
  // A partition this node leads may answer at once, and a refusal decides:
  // every vote is awaited before the first goes out, and none after the end.
  for (auto& prepare : prepares) {
    if (!origins_.count(origin_id) || origins_.at(origin_id).deciding) return;
    call(std::move(prepare), origin_id);
  }
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
  for (const auto& [partition, part] : o.parts) decide.participants.push_back(partition);
  call(std::move(decide), origin_id);
}

// The decision that won is the answer: a commit stored every task, whatever
// the votes this origin saw (a resent transaction meets its own tasks).
void Transactions::on_decided(uint64_t origin_id, bool commit) {
  if (!origins_.at(origin_id).cancel_job.empty()) return on_cancel_decided(origin_id, commit);
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
  host_.answer_client(o.request, std::move(o.reply));
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
  if (table.prepared().count(m.txn)) return reply(m, std::move(vote));  // prepared already: the vote was lost
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
  bool named_right = std::all_of(m.participants.begin(), m.participants.end(),
                                 [&](uint32_t p) { return p < host_.partitions(); });
  if (!named_right || m.participants.size() > limits::kMaxTxnParticipants) {
    return reply(m, answer_of(m, ErrorCode::kInvalidArgument));
  }
  if (!host_.propose(m.partition, OpTxnDecide{m.txn, m.commit, m.participants, host_.now_ms()})) {
    return reply(m, not_leader(m));
  }
  decide_waits_[key].push_back(m);
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
  } else if (inquirers_[key].insert(participant).second && !decide_waits_.count(key)) {
    // Presumed abort: nobody decided; the abort is written, so that a late
    // commit finds it.
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
    PartitionTxn key{partition, prepare->txn};
    if (leading && status.ok()) doubts_.emplace(key, Doubt{host_.now_ms(), host_.now_ms() + config_.prepare_timeout_ms});
    auto waits = vote_waits_.find(key);
    if (waits == vote_waits_.end()) return;
    for (const auto& m : waits->second) {
      TxnReply vote = answer_of(m, ErrorCode::kOk, status.ok());
      if (!status.ok()) {
        for (const auto& spec : m.tasks) {
          vote.outcomes.push_back(SubmitOutcome{spec.id, status.code(), status.message(), false, TaskState::kPending});
        }
        if (!m.cancel_job.empty()) {
          vote.outcomes.push_back(SubmitOutcome{m.cancel_job, status.code(), status.message(), false, {}});
        }
      }
      reply(m, std::move(vote));
    }
    vote_waits_.erase(waits);
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
    if (!leading) return;
    const TaskTable* table = host_.led_table(partition);
    if (table == nullptr) return;
    auto decision = table->decisions().find(decide->txn);
    MESH_ASSERT(decision != table->decisions().end(), "a decision just applied is missing");
    if (!resolving_.count({partition, decide->txn})) {
      host_.count(decision->second.commit ? "txns_committed" : "txns_aborted");
      host_.event(decision->second.commit ? "txn_committed" : "txn_aborted", decide->txn,
                  std::to_string(decision->second.participants.size()) + " partitions, coordinator partition " +
                      std::to_string(partition));
    }
    start_resolving(partition, decide->txn, decision->second);
  } else if (const auto* forget = std::get_if<OpTxnForget>(&op)) {
    auto it = resolving_.find({partition, forget->txn});
    if (it == resolving_.end()) return;
    for (const auto& [p, call_id] : it->second.calls) end_call(call_id);
    resolving_.erase(it);
  }
}

void Transactions::on_lead_start(uint32_t partition, const TaskTable& table) {
  uint64_t now = host_.now_ms();
  for (const auto& [txn, intents] : table.prepared()) {
    doubts_.emplace(PartitionTxn{partition, txn}, Doubt{now, now + config_.prepare_timeout_ms});
  }
  for (const auto& [txn, decision] : table.decisions()) start_resolving(partition, txn, decision);
}

// What waits on a partition's log is dropped: whoever asked asks again, and
// the partition's next leader resumes from its table.
void Transactions::on_lead_end(uint32_t partition) {
  auto of_partition = [partition](const auto& entry) { return entry.first.first == partition; };
  auto drop = [&](auto& map) { std::erase_if(map, of_partition); };
  drop(vote_waits_);
  drop(resolve_waits_);
  drop(doubts_);
  drop(decide_waits_);
  drop(inquirers_);
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
      if (!o->second.deciding && (o->second.refused || o->second.unvoted.empty())) {
        decide(origin_id, !o->second.refused);
      }
      return;
    }
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
