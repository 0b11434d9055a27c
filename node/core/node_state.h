// NodeState: everything one node decides, as a pure state machine.
//
//   Effects step(const Input&)
//
// Inputs are client requests, handler completions, lease renewals from the
// runner, ticks and recovery; each carries `now_ms`, the only clock the core
// sees. Every change to a task goes through apply(op) on the TaskTable, so a
// replicated log can later carry the very same operations.
//
// Scheduling: pending tasks wait in a ReadyQueue (priority with aging, and
// backoff); while executor slots are free the node leases the next ready
// task to itself and emits a RunTask. A lease lasts lease_ttl_ms and is
// extended by RenewLeases; a lease that runs out returns the task to PENDING
// (runner lost), an attempt that runs past its timeout fails and is retried
// with backoff until max_attempts, then the task is FAILED (dead letter).
//
// Backpressure: at most max_unfinished tasks that are not terminal; more
// submits get kOverloaded.
//
// Work stealing (DESIGN §5): a node with free slots and nothing runnable
// picks a victim from its gossiped load view (two random choices among live
// nodes whose runnable backlog reaches steal.threshold, the larger wins) and
// sends a StealRequest. The victim leases up to half of its excess runnable
// stealable tasks to the thief (OpLease with the thief as owner, durable
// before the grant is sent), taking the ones it would run last. The thief
// runs them, renews their leases through LeaseRenewal, and sends each
// outcome to the owner until acknowledged. The owner commits an outcome only
// for the current attempt (fencing); a thief that dies stops renewing and the
// lease expires back to PENDING; a victim that restarts releases every lease
// it held, so a late result is stale and rejected. Stolen tasks are never
// re-stolen: only PENDING tasks are granted.
//
// Membership: the node runs SWIM (Membership) with its peers; its load
// digest rides the gossip, republished once per probe interval. The
// partition table is a pure function of the live member set, computed on
// demand and cached per membership version, so churn costs nothing until a
// caller needs the table.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "node/core/effects.h"
#include "node/core/input.h"
#include "node/core/membership.h"
#include "node/core/partition_table.h"
#include "node/core/ready_queue.h"
#include "node/core/task_table.h"
#include "node/env/random.h"

namespace mesh {

struct StealConfig {
  bool enabled = true;
  uint32_t batch_max = 16;         // tasks per steal, at most
  uint64_t threshold = 2;          // runnable tasks that make a node a victim
  uint64_t interval_ms = 50;       // between steal attempts of an idle node
  uint64_t request_timeout_ms = 1000;  // a grant that has not come by then is given up
  uint64_t result_retry_ms = 200;  // resend an unacknowledged stolen result this often
};

struct NodeConfig {
  std::string node_id = "node-1";
  uint32_t slots = 4;
  uint64_t max_unfinished = 100000;
  uint64_t lease_ttl_ms = 10000;
  uint64_t aging_interval_ms = 1000;
  std::set<std::string> handlers;  // names a submitted task may use
  std::string address = "tcp://127.0.0.1:7700";  // where peers reach this node
  MembershipConfig membership;
  RingConfig ring;
  StealConfig steal;
};

// A handler's error output as an op carries it: at most kMaxErrorBytes, the
// limit every decoder of a log entry enforces.
std::string error_text(std::string text);

class NodeState {
 public:
  NodeState(NodeConfig config, Random& random);

  Effects step(const Input& input);

  // Reads: no state change, served from memory.
  GetReply get(const GetRequest& request) const;
  ListReply list(const ListRequest& request) const;
  const std::map<std::string, uint64_t>& counters() const { return counters_; }
  std::map<std::string, int64_t> gauges() const;
  const TaskTable& tasks() const { return table_; }
  const NodeConfig& config() const { return config_; }
  bool draining() const { return draining_; }
  // Attempts this node runs: its own tasks and stolen ones.
  size_t running() const { return running_.size() + borrowed_.size(); }
  // The most recent steals this node took part in, oldest first.
  const std::deque<StealEvent>& recent_steals() const { return recent_steals_; }
  const Membership& membership() const { return membership_; }
  // The table every node with the same live view computes identically.
  const PartitionTable& partition_table() const;
  MembersReply members_view() const;
  PartitionsReply partitions_view() const;
  StealsReply steals_view() const;

 private:
  struct Waiter {
    RequestRef request;
    std::set<std::string> pending;  // ids not yet terminal
    std::vector<std::string> ids;   // in request order, for the reply
    bool all;
    uint64_t deadline_ms;
  };

  void on(const in::Submit& e);
  void on(const in::Cancel& e);
  void on(const in::Wait& e);
  void on(const in::TaskFinished& e);
  void on(const in::RenewLeases& e);
  void on(const in::Tick& e);
  void on(const in::Recover& e);
  void on(const in::Drain& e);
  void on(const in::Join& e);
  void on(const in::FromPeer& e);

  // Work stealing (node/core/work_stealing.cc).
  void on_peer(const StealRequest& m);
  void on_peer(const StealGrant& m);
  void on_peer(const LeaseRenewal& m);
  void on_peer(const StolenResult& m);
  void on_peer(const StolenResultAck& m);
  void maybe_steal();
  bool idle_with_free_slots() const;
  std::vector<MemberView> steal_candidates() const;
  std::optional<MemberView> choose_victim();
  bool lent_to(const std::string& id, uint32_t attempt, const std::string& thief) const;
  void finish_borrowed(const in::TaskFinished& e);
  void renew_borrowed(const std::vector<std::pair<std::string, uint32_t>>& running);
  void expire_stealing_deadlines();
  void resend_results();
  void note_steal(const std::string& victim, const std::string& thief, size_t tasks);
  void send(const std::string& address, PeerMessage message);

  SubmitOutcome submit_one(TaskSpec spec);
  // Ends the current attempt as failed or timed out: PENDING again after
  // backoff, or FAILED (dead letter) once max_attempts failures are spent.
  void fail_attempt(const std::string& id, uint32_t attempt, AttemptOutcome outcome, std::string error);
  Status validate(const TaskSpec& spec) const;
  // Applies an op the core itself decided; such an op must never be rejected.
  void apply(const TaskOp& op);
  // Brings the ready queue, running set and waiters in line with a record.
  void reindex(const TaskRecord& record);
  void expire_deadlines();
  void dispatch();
  void resolve_waiters();
  void reply_wait(uint64_t waiter_id, bool timed_out);
  void publish_load();
  std::optional<uint64_t> next_wake() const;
  void count(const std::string& name, uint64_t n = 1) { counters_[name] += n; }

  NodeConfig config_;
  Random& random_;
  TaskTable table_;
  ReadyQueue ready_;
  std::map<std::string, uint32_t> running_;  // task id -> attempt leased to this node
  std::map<std::string, uint32_t> lent_;     // task id -> attempt leased to another node (a thief)

  struct Borrowed {  // a stolen task this node runs for its owner
    std::string owner_address;
    uint32_t attempt;
    uint64_t timeout_at_ms;
  };
  struct PendingResult {  // a stolen outcome not yet acknowledged by its owner
    std::string owner_address;
    StolenResult result;
    uint64_t next_send_ms;
    uint64_t give_up_ms;
  };
  std::map<std::string, Borrowed> borrowed_;
  std::map<std::string, PendingResult> pending_results_;
  std::optional<uint64_t> steal_in_flight_until_ms_;
  uint64_t next_steal_ms_ = 0;
  bool steal_victim_seen_ = false;  // the last look at the load view found a victim
  uint64_t steal_scanned_view_ = UINT64_MAX;  // membership view_version() at the last look
  std::optional<LoadDigest> published_load_;
  std::deque<StealEvent> recent_steals_;
  std::map<uint64_t, Waiter> waiters_;
  std::multimap<std::string, uint64_t> waiters_by_task_;
  std::set<uint64_t> completed_waiters_;
  uint64_t next_waiter_id_ = 1;
  std::map<std::string, uint64_t> counters_;
  bool draining_ = false;
  Membership membership_;
  bool joined_ = false;  // membership timers run once the node has joined
  uint64_t next_load_publish_ms_ = 0;
  uint64_t average_run_ms_ = 0;  // moving average of successful attempts, for the backlog estimate
  mutable std::optional<PartitionTable> table_cache_;
  mutable uint64_t table_cache_version_ = 0;

  // Per-step scratch.
  uint64_t now_ms_ = 0;
  Effects out_;
  std::set<std::string> dirty_;
};

}  // namespace mesh
