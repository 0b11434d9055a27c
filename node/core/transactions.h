// Transactions: two-phase commit across partitions, over their Raft groups
// (DESIGN §6; the rules and a diagram are in docs/ARCHITECTURE.md,
// "Transactions"). A sans-IO component of a node: it sees its node only
// through ComponentHost.
//
// Three roles, any node may play each:
//   origin       the node a client's atomic submit reached. Sends each
//                participant partition its tasks (prepare) and, beside them,
//                the list of participants to the coordinator partition
//                (stage). Once every participant voted yes and the stage is
//                written, the transaction is committed: it answers the
//                client, then asks the coordinator to write the commit. On a
//                no it asks for an abort, and answers with the decision that
//                won. Volatile: if it dies, the participants' inquiries
//                recover the outcome.
//   participant  the leader of a partition the tasks belong to. Commits an
//                OpTxnPrepare (the intents), votes, and later commits the
//                OpTxnResolve the coordinator sends. Intents held longer
//                than prepare_timeout_ms make it ask the coordinator
//                (inquire); it never aborts on its own.
//   coordinator  the leader of the partition of hash(txn id). Commits the
//                stage and the decision (OpTxnDecide; the first decision
//                applied wins), resends it to every participant until each
//                has resolved it, answers the origin, and forgets it
//                keep_decision_ms later. An inquiry about a transaction it
//                knows nothing of writes an abort (presumed abort); about a
//                staged one, it recovers: every participant prepared means
//                commit, else one is fenced (it can never prepare) and the
//                transaction aborts. A stage left undecided is recovered too.
// Everything a role must not lose is in a log; a new leader resumes from its
// table (on_lead_start).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "node/core/component_host.h"
#include "node/core/input.h"
#include "node/core/task_table.h"
#include "protocol/peer_messages.h"

namespace mesh {

struct TxnConfig {
  // Origin: votes not all in by then abort the transaction. Participant:
  // intents held this long make it ask the coordinator for the decision.
  uint64_t prepare_timeout_ms = 5000;
  uint64_t resend_ms = 300;  // an unanswered step goes again, to the next candidate
  // A decision every participant resolved is kept this long, so that an
  // origin's late decide learns the real outcome instead of starting anew.
  // It must exceed the request deadline (the origin gives up by then).
  uint64_t keep_decision_ms = 60000;
};

class Transactions {
 public:
  Transactions(TxnConfig config, ComponentHost& host) : config_(config), host_(host) {}

  // Origin: an atomic submit. Every task has its id.
  void submit(RequestRef request, std::string txn, std::vector<TaskSpec> tasks);
  // Origin: cancels every unfinished task of `job` (the transaction id of
  // its atomic submit), all or none, as transaction `txn`
  // (transactions_cancel.cc).
  void cancel_job(RequestRef request, std::string txn, std::string job);
  // The answer to this component's ask (ComponentHost::ask): a page of the
  // job a cancel lists.
  void on_answer(uint64_t origin_id, const Reply& reply);
  void on_request(const TxnRequest& m);
  void on_reply(const TxnReply& m);
  // A transaction op was applied on this node's replica of `partition`
  // (`leading`: this node leads it).
  void on_applied(uint32_t partition, const TaskOp& op, const Status& status, bool leading);
  void on_lead_start(uint32_t partition, const TaskTable& table);
  void on_lead_end(uint32_t partition);
  // Resends, inquiries, votes and decisions past their time, forgetting.
  void tick();
  std::optional<uint64_t> next_wake() const;
  // What this node takes part in: origins in flight, intents in doubt on
  // partitions it leads, decisions it keeps as coordinator.
  std::vector<TxnInfo> view() const;
  // Prepared intents on partitions this node leads, waiting for a decision.
  size_t in_doubt() const { return doubts_.size(); }

 private:
  using PartitionTxn = std::pair<uint32_t, std::string>;
  // Where a job cancel's origin is: waiting for the job's own submit to
  // settle, listing the job, voting and deciding (as a submit does), then
  // listing it again to tell what the cancel took.
  enum class CancelStep : uint8_t { kSettling, kListing, kVoting, kConfirming };
  // An atomic submit at its origin.
  struct Origin {
    RequestRef request = 0;
    std::string txn;
    uint32_t coordinator = 0;
    SubmitReply reply;
    std::map<uint32_t, std::vector<TaskSpec>> parts;  // partition -> its tasks
    std::map<uint32_t, std::vector<size_t>> slots;    // partition -> its tasks' outcome indexes
    std::set<uint32_t> unvoted;
    bool refused = false;  // some participant voted no, or the stage was refused
    bool staged = false;   // the coordinator wrote the stage (a job cancel needs none)
    bool deciding = false;
    bool answered = false;  // committed and answered; the commit is being written
    uint64_t started_ms = 0;
    uint64_t votes_deadline_ms = 0;
    uint64_t deadline_ms = 0;  // the client's answer, at the latest
    // A job cancel: the job; where it is (CancelStep); its tasks as listed
    // last; those unfinished at the first listing; why it was refused.
    std::string cancel_job;
    CancelStep cancel_step = CancelStep::kVoting;
    std::vector<CancelOutcome> job_tasks;
    std::set<std::string> unfinished;
    std::string refusal;
  };
  // A step sent to a partition's leader, resent until answered.
  struct Call {
    TxnRequest request;  // request.handle is the call's id
    uint64_t origin = 0;  // the Origin it serves (prepare, decide); 0 otherwise
    std::string target;
    uint32_t tries = 0;
    uint64_t resend_at_ms = 0;
  };
  // A decision its coordinator is resolving at the participants.
  struct Resolving {
    bool commit = false;
    std::set<uint32_t> unresolved;
    std::map<uint32_t, uint64_t> calls;      // participant -> resolve call
    std::vector<TxnRequest> decide_waits;    // origins waiting for the outcome
    uint64_t since_ms = 0;
    uint64_t forget_at_ms = 0;  // set once every participant resolved
    bool forgetting = false;
  };

  // What a staged transaction's recovery waits for: the fences' answers.
  struct Recovery {
    std::set<uint32_t> unanswered;
    std::map<uint32_t, uint64_t> calls;  // participant -> fence call
    bool deciding = false;
  };

  // --- origin
  void send_stage(uint64_t origin_id, const Origin& o);
  void on_staged(uint64_t origin_id, bool staged);
  void maybe_decide(uint64_t origin_id);
  void answer_committed(Origin& o);
  void decide(uint64_t origin_id, bool commit);
  void on_vote(Origin& o, const TxnReply& m);
  void on_decided(uint64_t origin_id, bool commit);
  void finish_origin(uint64_t origin_id, ErrorCode code, const std::string& message);
  void send_prepares(uint64_t origin_id, Origin& o);
  // --- origin of a job cancel (transactions_cancel.cc)
  void list_job_page(uint64_t origin_id, const Origin& o);
  void on_job_settled(uint64_t origin_id);
  void on_job_listed(uint64_t origin_id, Origin& o);
  void on_cancel_vote(Origin& o, const TxnReply& m);
  void on_cancel_decided(uint64_t origin_id, bool commit);
  void finish_cancel(uint64_t origin_id, ErrorCode code, const std::string& message);
  // --- participant
  void serve_prepare(const TxnRequest& m);
  void serve_resolve(const TxnRequest& m);
  void serve_fence(const TxnRequest& m);
  void on_prepare_applied(const PartitionTxn& key, const OpTxnPrepare& prepare, const Status& status, bool leading);
  // --- coordinator
  void serve_decide(const TxnRequest& m);
  void serve_inquire(const TxnRequest& m);
  void serve_stage(const TxnRequest& m);
  void on_decide_applied(uint32_t partition, const OpTxnDecide& decide, const Status& status, bool leading);
  const TxnDecision* staged(uint32_t coordinator, const std::string& txn) const;
  void recover(uint32_t coordinator, const std::string& txn);
  void on_fenced(uint32_t coordinator, const std::string& txn, uint32_t participant, bool prepared);
  void decide_recovered(const PartitionTxn& key, bool commit);
  void end_recovery(const PartitionTxn& key);
  void start_resolving(uint32_t coordinator, const std::string& txn, const TxnDecision& decision);
  void resolve_at(uint32_t coordinator, const std::string& txn, Resolving& r, uint32_t participant);
  void on_resolved(uint32_t coordinator, const std::string& txn, uint32_t participant);
  void answer_decides(Resolving& r);
  // --- calls
  uint64_t call(TxnRequest request, uint64_t origin);
  void send_call(uint64_t call_id);
  void end_call(uint64_t call_id);
  void end_calls_of(uint64_t origin_id);  // the prepares and the decide an origin still has out
  static TxnReply answer_of(const TxnRequest& m, ErrorCode code, bool commit = false);
  static TxnReply refused_vote(const TxnRequest& m, const Status& status);
  TxnReply not_leader(const TxnRequest& m) const;
  void reply(const TxnRequest& to, TxnReply reply);
  bool refuse_unless_leading(const TxnRequest& m);
  static void add_waiter(std::vector<TxnRequest>& waits, const TxnRequest& m);

  TxnConfig config_;
  ComponentHost& host_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Origin> origins_;
  std::map<uint64_t, Call> calls_;
  std::map<PartitionTxn, std::vector<TxnRequest>> vote_waits_;     // participant: prepares proposed, not applied
  std::map<PartitionTxn, std::vector<TxnRequest>> resolve_waits_;  // participant: resolves proposed, not applied
  std::map<PartitionTxn, std::vector<TxnRequest>> fence_waits_;    // participant: fences proposed, not applied
  std::map<PartitionTxn, uint64_t> fence_forgets_;                 // participant: when to forget a fence
  // Participant: intents held on a led partition, since when (this leader
  // learnt of them), and when to ask the coordinator next.
  struct Doubt {
    uint64_t since_ms = 0;
    uint64_t ask_at_ms = 0;
  };
  std::map<PartitionTxn, Doubt> doubts_;
  std::map<PartitionTxn, uint64_t> inquiries_;                     // participant: inquire call in flight
  std::map<PartitionTxn, std::vector<TxnRequest>> decide_waits_;   // coordinator: decide proposed, not applied
  std::map<PartitionTxn, std::set<uint32_t>> inquirers_;           // coordinator: abort proposed for them
  std::map<PartitionTxn, std::vector<TxnRequest>> stage_waits_;    // coordinator: stages proposed, not applied
  std::map<PartitionTxn, uint64_t> stage_deadlines_;               // coordinator: staged, recovered if undecided then
  std::map<PartitionTxn, Recovery> recovering_;                    // coordinator: staged ones being recovered
  std::map<PartitionTxn, Resolving> resolving_;                    // coordinator: decisions on led partitions
};

}  // namespace mesh
