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
// Membership: the node runs SWIM (Membership) with its peers; its load
// digest rides the gossip, republished once per probe interval. The
// partition table is a pure function of the live member set, computed on
// demand and cached per membership version, so churn costs nothing until a
// caller needs the table.
#pragma once

#include <cstdint>
#include <map>
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
};

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
  size_t running() const { return running_.size(); }
  const Membership& membership() const { return membership_; }
  // The table every node with the same live view computes identically.
  const PartitionTable& partition_table() const;
  MembersReply members_view() const;
  PartitionsReply partitions_view() const;

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

  SubmitOutcome submit_one(TaskSpec spec);
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
