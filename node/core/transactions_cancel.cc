// The atomic cancel of a job (docs/ARCHITECTURE.md, "Atomic job cancel"):
// a transaction whose participants are the partitions holding the job's
// unfinished tasks. Its origin first lists the job through the mesh (brief
// records, page by page) to learn them; each participant's prepare then
// holds the job's tasks unfinished there, and the resolve cancels them
// (commit) or lets them go (abort). Once committed, the origin lists the
// job again and answers with what the cancel took.
#include "node/core/assert.h"
#include "node/core/partitioning.h"
#include "node/core/transactions.h"
#include "protocol/limits.h"

namespace mesh {

namespace {
// Records per page of the listing: brief records are small, and a page
// stays far below the frame limit.
constexpr uint32_t kJobPageTasks = 1000;
}  // namespace

void Transactions::cancel_job(RequestRef request, std::string txn, std::string job) {
  uint64_t id = next_id_++;
  Origin& o = origins_[id];
  o.request = request;
  o.txn = std::move(txn);
  o.cancel_job = std::move(job);
  o.coordinator = partition_of(o.txn, host_.partitions());
  o.started_ms = host_.now_ms();
  // The listing's pages share this; the prepares then get their own time.
  o.votes_deadline_ms = o.deadline_ms = o.started_ms + 3 * config_.prepare_timeout_ms;
  if (o.cancel_job.empty()) return finish_origin(id, ErrorCode::kInvalidArgument, "a job cancel needs the job's id");
  // First the job's own submit must be settled: committed and resolved at
  // every partition (else a partition resolving late would show its tasks
  // after the listing), or aborted. A decide of the job's transaction
  // answers exactly then; one still undecided it aborts (the first decision
  // wins), one long forgotten it marks aborted, harmlessly: nobody asks.
  o.cancel_step = CancelStep::kSettling;
  TxnRequest settle;
  settle.step = TxnStep::kDecide;
  settle.txn = o.cancel_job;
  settle.partition = settle.coordinator = partition_of(o.cancel_job, host_.partitions());
  call(std::move(settle), id);
}

void Transactions::on_job_settled(uint64_t origin_id) {
  Origin& o = origins_.at(origin_id);
  o.cancel_step = CancelStep::kListing;
  list_job_page(origin_id, o);
}

void Transactions::list_job_page(uint64_t origin_id, const Origin& o) {
  ListRequest page;
  page.limit = kJobPageTasks;
  page.after_id = o.job_tasks.empty() ? std::string{} : o.job_tasks.back().id;
  page.txn = o.cancel_job;
  page.brief = true;
  // The page may take what is left of the origin's time: a partition
  // without a leader now (an election) may have one in a moment.
  uint64_t now = host_.now_ms();
  host_.ask(AskRef{Asker::kTransactions, origin_id}, std::move(page), o.deadline_ms > now ? o.deadline_ms - now : 0);
}

void Transactions::on_answer(uint64_t origin_id, const Reply& reply) {
  auto it = origins_.find(origin_id);
  if (it == origins_.end()) return;  // ended meanwhile (its deadline)
  Origin& o = it->second;
  bool confirming = o.cancel_step == CancelStep::kConfirming;
  if (!confirming && o.cancel_step != CancelStep::kListing) return;
  const auto* page = std::get_if<ListReply>(&reply);
  if (page == nullptr) {
    const auto* error = std::get_if<ErrorReply>(&reply);
    return finish_origin(origin_id, error ? error->code : ErrorCode::kUnavailable,
                         "cannot list job " + o.cancel_job + ": " + (error ? error->message : "unexpected answer"));
  }
  for (const auto& r : page->records) {
    bool cancelled_here = confirming && o.unfinished.count(r.spec.id) && r.state == TaskState::kCancelled;
    o.job_tasks.push_back(CancelOutcome{r.spec.id, cancelled_here ? ErrorCode::kOk : ErrorCode::kAlreadyTerminal, r.state});
    if (!confirming && !is_terminal(r.state)) {
      o.unfinished.insert(r.spec.id);
      o.parts[r.partition];  // a participant, holding nothing to submit
    }
  }
  if (page->more && !page->records.empty()) return list_job_page(origin_id, o);
  if (confirming) return finish_origin(origin_id, ErrorCode::kOk, {});
  on_job_listed(origin_id, o);
}

void Transactions::on_job_listed(uint64_t origin_id, Origin& o) {
  o.cancel_step = CancelStep::kVoting;
  if (o.job_tasks.empty()) {
    return finish_origin(origin_id, ErrorCode::kNotFound, "no task belongs to job " + o.cancel_job);
  }
  if (o.parts.empty()) return finish_origin(origin_id, ErrorCode::kOk, {});  // every task had finished
  if (o.parts.size() > limits::kMaxTxnParticipants) {
    return finish_origin(origin_id, ErrorCode::kTooLarge,
                         "job " + o.cancel_job + " has unfinished tasks in " + std::to_string(o.parts.size()) +
                             " partitions; a transaction may touch at most " +
                             std::to_string(limits::kMaxTxnParticipants));
  }
  uint64_t now = host_.now_ms();
  o.votes_deadline_ms = now + config_.prepare_timeout_ms;
  o.deadline_ms = o.votes_deadline_ms + config_.prepare_timeout_ms;
  send_prepares(origin_id, o);
}

void Transactions::on_cancel_vote(Origin& o, const TxnReply& m) {
  if (m.commit) return;
  o.refused = true;
  if (o.refusal.empty() && !m.outcomes.empty()) o.refusal = m.outcomes.front().message;
}

// Committed: the coordinator answers once every participant resolved, so
// the job read back now shows what the cancel took. A task held while its
// running attempt committed a result stays COMPLETED, and says so.
void Transactions::on_cancel_decided(uint64_t origin_id, bool commit) {
  Origin& o = origins_.at(origin_id);
  if (!commit) {
    return finish_origin(origin_id, ErrorCode::kAborted,
                         "cancel of job " + o.cancel_job + " aborted, no task of it was cancelled" +
                             (o.refusal.empty() ? std::string{} : ": " + o.refusal));
  }
  end_calls_of(origin_id);
  o.cancel_step = CancelStep::kConfirming;
  o.job_tasks.clear();
  o.deadline_ms = host_.now_ms() + 3 * config_.prepare_timeout_ms;
  list_job_page(origin_id, o);
}

void Transactions::finish_cancel(uint64_t origin_id, ErrorCode code, const std::string& message) {
  auto it = origins_.find(origin_id);
  MESH_ASSERT(it != origins_.end(), "finishing an origin that is gone");
  Origin& o = it->second;
  if (code == ErrorCode::kOk) {
    host_.answer_client(o.request, CancelReply{std::move(o.job_tasks)});
  } else if (o.cancel_step == CancelStep::kConfirming) {
    host_.answer_client(o.request, ErrorReply{ErrorCode::kUnavailable,
                                              "the cancel of job " + o.cancel_job +
                                                  " committed, but the job could not be read back: " + message});
  } else if (o.cancel_step != CancelStep::kVoting) {
    // Nothing was prepared yet: nothing was cancelled, say so plainly.
    std::string why = o.cancel_step == CancelStep::kSettling ? "the job's own submit was not settled in time" : message;
    host_.answer_client(o.request, ErrorReply{code, "nothing was cancelled: " + why});
  } else {
    host_.answer_client(o.request, ErrorReply{code, message});
  }
  end_calls_of(origin_id);
  origins_.erase(it);
}

}  // namespace mesh
