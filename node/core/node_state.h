// NodeState: everything one node decides, as a pure state machine.
//
//   Effects step(const Input&)
//
// Inputs are client requests, handler completions, lease renewals from the
// runner, peer messages, ticks and recovery; each carries `now_ms`, the only
// clock the core sees.
//
// Partitions (DESIGN §3). The key space is cut into P partitions; a task
// belongs to partition_of(key, or id when it has no key). Each partition is
// a Raft group (RaftGroup) over the replicas the ring picks for it, and its
// TaskTable is that group's state machine: every change to a task is a
// TaskOp proposed by the partition's leader and applied, on every replica,
// once committed. A node hosts the groups it is a replica of
// (node/core/partition_host.cc): it founds all of them when it starts a new
// mesh, loads them from disk on restart, and creates an empty one when a
// leader first reaches it. Replica ids are "<node id>#<disk id>" so that a
// wiped disk comes back as a new replica (docs/ARCHITECTURE.md).
//
// Leaders reconcile their group with the ring: they add the replicas the ring
// wants (one at a time), then remove those it no longer wants, and hand
// leadership to the ring's first replica once it has caught up.
//
// Scheduling happens only on partitions this node leads. Pending tasks wait
// in a ReadyQueue (priority with aging, and backoff); while executor slots
// are free the leader proposes a lease to itself and emits RunTask once the
// lease is committed. Leases (volatile deadlines, restarted when leadership
// moves) are extended by the runner through OpRenew; one that runs out
// returns the task to PENDING; an attempt that runs past its timeout fails
// and is retried with backoff until max_attempts, then FAILED (dead letter).
// An attempt's outcome is committed by whoever leads the partition when it
// finishes: the runner proposes it when it leads, and otherwise sends it to
// the leader (StolenResult) until acknowledged. The attempt number fences
// every outcome.
//
// Routing (node/core/routing.cc). Any node accepts any client request. A
// submit is split by partition and each part goes to that partition's
// leader (RouteSubmit), retried at the next candidate when the answer is
// kNotLeader or does not come, until the route deadline; the client gets
// one answer once every part is committed. Get, wait and cancel first ask
// the leaders of their ids' own partitions; list, and what that does not
// find (tasks under keys), go to every live node (Fanout). Each answers for
// the partitions it leads and the origin merges, asking again while some
// partition has no leader.
//
// Work stealing (DESIGN §5, node/core/work_stealing.cc): a node with free
// slots and nothing runnable picks a victim from its gossiped load view and
// sends a StealRequest; the victim leases up to half of its excess runnable
// stealable tasks to the thief as committed log entries, then grants them.
//
// Retention (node/core/retention.cc): finished records stay for
// retention.finished_ms, dead letters for retention.dead_letter_ms; then the
// leader removes them through the log with an OpPurge carrying the cutoffs.
//
// Backpressure: at most max_unfinished unfinished tasks on the partitions a
// node leads; more submits get kOverloaded.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "node/core/backup_attempts.h"
#include "node/core/effects.h"
#include "node/core/dependencies.h"
#include "node/core/exec_policy.h"
#include "node/core/input.h"
#include "node/core/membership.h"
#include "node/core/partition_table.h"
#include "node/core/raft.h"
#include "node/core/ready_queue.h"
#include "node/core/steal_history.h"
#include "node/core/task_key.h"
#include "node/core/task_table.h"
#include "node/core/transactions.h"
#include "node/env/random.h"

namespace mesh {

struct StealConfig {
  bool enabled = true;
  uint32_t batch_max = 16;         // tasks per steal, at most
  uint64_t threshold = 2;          // runnable tasks that make a node a victim
  uint64_t interval_ms = 50;       // between steal attempts of an idle node
  uint64_t request_timeout_ms = 1000;  // a grant that has not come by then is given up
  uint64_t result_retry_ms = 200;  // resend an unacknowledged result this often
};

// Where a task that became runnable on its partition's leader first runs
// (work stealing then corrects what placement got wrong):
//   key          on the leader itself, i.e. the ring owner of the task's key
//   round_robin  the live members in turn, among those with room
//   least_loaded the member with the most free slots in the load view
//   weighted     a random member with room, weighted by its executor slots
//   adaptive     the healthiest fast member with room: the one whose expected
//                time to a success (gossiped run time over success rate) is
//                least; a slower one only while the faster members could not
//                clear the queue before it would finish (docs/ARCHITECTURE.md)
// A member "has room" while its gossiped free slots exceed the runs this
// leader still has out on it. Tasks marked stealable=false stay home.
enum class Placement : uint8_t { kKey, kRoundRobin, kLeastLoaded, kWeighted, kAdaptive };
std::optional<Placement> parse_placement(std::string_view name);

struct ReplicationConfig {
  uint64_t election_timeout_ms = 1000;
  uint64_t heartbeat_interval_ms = 100;
  uint64_t snapshot_every = 1000;         // applied entries between two snapshots of a partition
  uint64_t reconcile_interval_ms = 200;   // how often leaders compare their group with the ring
  uint64_t route_timeout_ms = 1000;       // a routed request not answered by then goes to the next candidate
  uint64_t request_deadline_ms = 15000;   // a client request not served by then gets kUnavailable
  size_t snapshot_chunk_bytes = 1u << 20;  // snapshot data per InstallSnapshot (RaftConfig)
  size_t max_append_bytes = 4u << 20;      // entry data per append (RaftConfig)
  // The ops a leader proposes to one partition in one step go in one log
  // entry (up to batch_bytes). Off while a rolling upgrade still runs nodes
  // that read one op per entry.
  bool batch_ops = true;
  size_t batch_bytes = 1u << 20;
};

// How long finished records stay, and how their removal is paced
// (node/core/retention.cc). A leader proposes an OpPurge when one of its
// partitions holds an expired record, at most once per purge_interval_ms.
struct RetentionConfig {
  uint64_t finished_ms = 3600ull * 1000;              // COMPLETED and CANCELLED records
  uint64_t dead_letter_ms = 7ull * 24 * 3600 * 1000;  // FAILED records
  uint64_t purge_interval_ms = 1000;
  uint32_t purge_batch_max = 1000;  // records one purge op removes, at most
};

struct NodeConfig {
  std::string node_id = "node-1";
  std::string replica_id;  // "<node id>#<disk id>"; empty: node_id + "#0"
  uint32_t slots = 4;
  uint64_t max_unfinished = 100000;
  uint64_t lease_ttl_ms = 10000;
  // A task whose runner vanishes (lease expired, runner dead or restarted)
  // this many attempts in a row becomes a dead letter: it is likely what
  // kills its runners. 0: no bound.
  uint32_t max_lost_attempts = 5;
  // Own attempts leased beyond the free slots, at most: a lease costs a
  // replicated round, so a slot that frees should find its next attempt
  // leased already. How many are leased ahead follows the measured run time
  // (NodeState::lease_ahead); leased attempts cannot be stolen, hence a cap.
  uint32_t lease_ahead_max = 64;
  uint64_t aging_interval_ms = 1000;
  std::set<std::string> handlers;  // names a submitted task may use
  ExecPolicy exec;                 // what an "exec" task may run; empty: exec refused
  std::string address = "tcp://127.0.0.1:7700";  // where peers reach this node
  MembershipConfig membership;
  RingConfig ring;
  StealConfig steal;
  ReplicationConfig replication;
  RetentionConfig retention;
  TxnConfig transactions;
  DependencyConfig dependencies;
  BackupConfig backups;
  Placement placement = Placement::kKey;
};

// An attempt of a leased record (its lease or its backup), as its runner starts it.
RunTask run_task_of(const TaskRecord& record, uint32_t partition, uint32_t attempt);

// Where the answer to a routed request goes: a client request of this node
// (origin_address empty) or a route / fan-out handle of another node.
struct ReplyTo {
  std::string origin_address;
  uint64_t handle = 0;
};

// How many lease lengths a runner keeps (and resends) an outcome no leader
// has acknowledged: it bounds the memory of a partition that never comes back.
inline constexpr uint64_t kResultLeaseLengths = 20;

class NodeState {
 public:
  NodeState(NodeConfig config, Random& random);
  ~NodeState();

  Effects step(const Input& input);

  const std::map<std::string, uint64_t>& counters() const { return counters_; }
  std::map<std::string, int64_t> gauges() const;
  const NodeConfig& config() const { return config_; }
  const std::string& replica_id() const { return replica_id_; }
  bool draining() const { return draining_; }
  // Some group this node votes in would lose its majority without this
  // replica (its other voters on live nodes are too few): a draining node
  // stays until the ring has moved those groups on.
  bool holds_a_majority_together() const;
  // Leads a group some other voter could take over: a draining node hands
  // those over before it exits, so no election timeout stalls their writes.
  bool leads_what_it_could_hand_over() const;
  // Attempts this node runs (for its own partitions or stolen).
  // Attempts in the executor's slots (granted ones waiting for a slot excluded).
  size_t running() const;
  // Partitions whose group this node leads now.
  size_t partitions_led() const { return led_partitions().size(); }
  // Unfinished tasks on the partitions this node leads.
  size_t unfinished() const;
  // The record of a task on this node's replica of its partition (any role),
  // or nullptr. For tests and tools; clients read through the leader.
  const TaskRecord* find(const std::string& id) const;
  // This replica's table of a partition, or nullptr when not hosted.
  const TaskTable* table(uint32_t partition) const;
  const RaftGroup* group(uint32_t partition) const;
  bool leads(uint32_t partition) const;
  // This node's replica of the partition stopped: what it holds does not decode.
  bool halted(uint32_t partition) const;
  // The most recent steals this node took part in, oldest first.
  const StealHistory& steal_history() const { return steal_history_; }
  const Membership& membership() const { return membership_; }
  // The table every node with the same live view computes identically.
  const PartitionTable& partition_table() const;
  MembersReply members_view() const;
  PartitionsReply partitions_view() const;
  StealsReply steals_view() const;
  TxnsReply transactions_view() const;

 private:
  friend class NodeComponentHost;
  // One hosted partition: its Raft group and the table it replicates.
  struct Replica {
    std::unique_ptr<RaftGroup> raft;
    TaskTable table;
    bool leading = false;  // scheduling state is built (this node leads it)
    // Set when what this replica holds does not decode: it then neither
    // applies, answers its group nor leads; the partition is served by the
    // other replicas, or by nobody, never from a partial table.
    std::optional<PartitionHalt> halted;
    // The quorum watch (tick_groups): since when this replica has known no
    // leader, and whether that was reported as quorum_lost.
    std::optional<uint64_t> leaderless_since_ms;
    bool quorum_lost_reported = false;
    // Ops proposed during this step, encoded: one log entry at the step's end
    // (propose_batched_ops), so a step's leases or completions cost one
    // replicated entry, not one each.
    std::vector<std::string> batched_ops;
    size_t batched_bytes = 0;
    // Bytes of the log entries applied since the last snapshot (maybe_compact).
    uint64_t applied_bytes_since_snapshot = 0;
  };
  // One lease of a task: a task racing a backup attempt has two.
  struct LeaseKey {
    TaskKey task;
    uint32_t attempt = 0;
    auto operator<=>(const LeaseKey&) const = default;
    bool operator==(const LeaseKey&) const = default;
  };
  // A lease on a task of a partition this node leads.
  struct Lease {
    uint32_t partition = 0;
    uint32_t attempt = 0;
    std::string owner;
    uint64_t deadline_ms = 0;  // volatile: restarted when leadership moves
    uint64_t timeout_at_ms = 0;
    bool ending = false;     // a release or failure is proposed
    uint64_t retry_at_ms = 0;  // the group refused the proposal (a hand-over): not before then
    // When the attempt was leased, on this clock, as far as this leader
    // knows: since the lease, or since this node leads, or earlier when its
    // runner's renewals say it has run longer. Waiting for a slot on a busy
    // runner counts: the job waits all the same.
    uint64_t run_started_ms = 0;
    // This leader's view of is_current_lease (node/core/task_table.h).
    bool held_by(uint32_t of_attempt, const std::string& runner) const {
      return attempt == of_attempt && owner == runner;
    }
  };
  // An attempt this node runs, or holds until a slot frees: a grant may
  // bring more tasks than there are free slots, and an attempt's timeout
  // starts when it runs, not when it is granted.
  struct Run {
    uint32_t partition = 0;
    uint32_t attempt = 0;
    uint64_t timeout_at_ms = 0;  // 0 while waiting
    std::string lender_address;  // the victim, for a stolen task; empty for its own
    uint64_t started_ms = 0;
    std::optional<RunTask> waiting;  // granted, not started yet
  };
  // An outcome of an attempt run here, kept until its op is applied: this
  // node sees it applied on its own replica, or the leader acknowledges it
  // (StolenResultAck, sent once applied). Proposed here while this node
  // leads the partition, sent to its leader otherwise.
  struct PendingResult {
    StolenResult result;
    uint64_t next_send_ms = 0;
    uint64_t give_up_ms = 0;
    uint32_t sends = 0;
    uint64_t proposed_in_term = 0;  // proposed here in this term (0: not); the leader of a term keeps its entries
  };
  // Where this node sends the renewals and outcomes of a partition it does
  // not lead: its lender at first, then whoever LeaderHints name; a target
  // that leaves a renewal or a result unanswered for a resend period gives
  // way to the next candidate.
  struct LeaderGuess {
    std::string address;
    std::string lender;   // the last lender: a candidate still when nothing else is known
    uint32_t misses = 0;  // unanswered targets: picks the next route candidate
    // When the oldest renewal or result sent to `address` and not answered
    // since left. A leader answers a renewal at once, but a result only once
    // it is applied, which can take longer than a resend period: any answer
    // (a hint, an ack) shows the target is there.
    std::optional<uint64_t> unanswered_since_ms;
    bool followed = false;  // a redirect was followed at once since the last timed renewal
    uint64_t term = 0;  // the newest Raft term of the partition any hint carried
    // The last target that left a renewal or a result unanswered: neither
    // picked nor believed when a hint names it (nodes that have not heard of
    // a new leader still name the old one), until it answers again, a hint
    // names it in a term newer than silent_term (it was elected again), or
    // silent_until_ms passes (a leader that was only slow).
    std::string silent;
    uint64_t silent_term = 0;
    uint64_t silent_until_ms = 0;
  };
  // A StolenResult whose op this leader proposed: acknowledged once applied
  // (kept without its output).
  using ResultWait = StolenResult;
  // A submit part served by this leader, waiting for its tasks to commit.
  struct SubmitPart {
    ReplyTo to;
    uint32_t partition = 0;
    std::vector<TaskSpec> tasks;
    std::vector<SubmitOutcome> outcomes;
    size_t waiting = 0;
  };
  // A client submit at its origin, waiting for every partition part.
  struct ClientSubmit {
    RequestRef request = 0;
    SubmitReply reply;
    size_t parts_left = 0;
    uint64_t deadline_ms = 0;
  };
  struct Route {
    uint64_t client = 0;  // ClientSubmit handle
    uint32_t partition = 0;
    std::vector<size_t> slots;  // outcome index of each task
    std::vector<TaskSpec> tasks;
    std::string target;  // address asked last
    uint64_t resend_at_ms = 0;
    uint32_t tries = 0;
    bool answered = false;
  };
  // A fan-out request at its origin.
  struct FanoutState {
    RequestRef request = 0;
    std::optional<AskRef> ask;  // a component's ask (start_fanout); none for a client's
    Request query;
    uint64_t deadline_ms = 0;
    uint64_t round = 0;
    uint64_t round_deadline_ms = 0;
    std::set<std::string> awaiting;  // node ids not yet answered this round
    bool between_rounds = false;     // the next round starts at round_deadline_ms
    bool targeted = false;           // this round asks only the leaders of the ids' own partitions
    std::set<uint32_t> covered;      // this round
    std::map<std::string, TaskRecord> found;        // get, wait: records seen
    std::map<std::string, CancelOutcome> settled;   // cancel: outcomes decided
    std::vector<TaskRecord> listed;                 // list: this round's records
    bool list_more = false;
    uint64_t unfinished = 0;                        // wait: summed over this round
  };
  // A wait or cancel served by a leader for a fan-out (or a local client).
  struct Waiter {
    ReplyTo to;
    std::vector<uint32_t> covered;
    std::set<TaskKey> pending;  // tasks not yet terminal
    std::vector<std::string> ids;
    bool all = false;
    uint64_t deadline_ms = 0;
  };
  // A cancel or a retry served by a leader, waiting for its ops to commit.
  struct CancelWait {
    ReplyTo to;
    std::vector<uint32_t> covered;
    std::vector<CancelOutcome> outcomes;
    size_t waiting = 0;
    bool retry = false;  // OpRetry rather than OpCancel
  };
  // A StealGrant waiting for its leases to commit.
  struct PendingGrant {
    bool placement = false;  // pushed by placement rather than asked for by a thief
    std::string thief_id;
    std::string thief_address;
    std::vector<RunTask> tasks;
    size_t waiting = 0;
  };

  // --- inputs (node_state.cc, routing.cc) ---
  void on(const in::Submit& e);
  void on(const in::Cancel& e);
  void on(const in::Wait& e);
  void on(const in::Get& e);
  void on(const in::List& e);
  void on(const in::Retry& e);
  void on(const in::TaskFinished& e);
  void on(const in::TasksFinished& e);
  void on(const in::RenewLeases& e);
  void on(const in::Tick& e);
  void on(const in::Recover& e);
  void on(const in::Drain& e);
  void on(const in::RemoveReplica& e);
  void on(const in::StorageSpace& e);
  void on(const in::Join& e);
  void on(const in::FromPeer& e);

  // --- components: transactions, dependencies (node_components.cc) ---
  void start_components();
  void submit_atomic(RequestRef request, std::string txn, std::vector<TaskSpec> tasks);
  void on_peer(const TxnRequest& m);
  void on_peer(const TxnReply& m);
  void apply_multi_task_op(uint32_t partition, Replica& r, const TaskOp& op);
  // Gives every task without an id one drawn from the node's random source.
  void assign_ids(std::vector<TaskSpec>& tasks);
  std::string random_id(const char* prefix);

  // --- partition hosting (partition_host.cc) ---
  Replica& host(uint32_t partition, RaftDisk disk);
  void found_mesh();
  void on_peer(const RaftBatch& m);
  void tick_groups();
  // Reports quorum_lost when a replica has known no leader for
  // kQuorumLostAfterElections election timeouts, and quorum_regained when it
  // knows one again: what an operator needs to see when writes stall.
  void watch_quorum(uint32_t partition, Replica& r);
  // Why a request to the partition went unanswered: "quorum lost for
  // partition P" when a replica here has known no leader for long (the
  // quorum watch), else that no leader answered in time.
  std::string unavailable_reason(uint32_t partition) const;
  void drain_groups();
  void handle_ready(uint32_t partition, Replica& r);
  void apply_entry(uint32_t partition, Replica& r, const LogEntry& entry);
  void apply_op(uint32_t partition, Replica& r, const TaskOp& op);
  // False, with the table untouched, when the snapshot does not decode.
  bool install_snapshot(uint32_t partition, Replica& r, const Snapshot& snapshot);
  void maybe_compact(uint32_t partition, Replica& r);
  void halt(uint32_t partition, Replica& r, uint64_t index, std::string reason);

  // --- linearizable reads (read_barrier.cc) ---
  // A leader's answer to a read is held until each partition it covers has
  // confirmed, by a Raft ReadIndex round started after the answer was
  // computed, that this node still led it; partitions that could not confirm
  // are taken out of the answer (uncovered), so a deposed leader never
  // answers for them.
  struct HeldRead {
    ReplyTo to;
    FanoutReply reply;
    std::set<uint32_t> unconfirmed;  // covered partitions whose round has not come back
    std::set<uint32_t> refused;      // covered partitions that could not confirm
  };
  void hold_until_confirmed(const ReplyTo& to, FanoutReply reply);
  void start_read_rounds();
  void on_read_round(uint32_t partition, uint64_t round, bool confirmed);
  void release_read(uint64_t read_id);
  // A committed atomic submit is answered before its resolves apply: a get
  // or wait naming a task that is still an intent here waits for the
  // resolve (or the end of this leadership), then is served again.
  bool hold_for_intents(const ReplyTo& to, const Request& query, const std::vector<std::string>& ids);
  void release_intent_reads(uint32_t partition, const std::string* txn);
  void deliver(const ReplyTo& to, FanoutReply reply);
  void send_raft_batches();
  void send_raft_batches(const std::string& address, std::vector<RaftMessage>& messages, bool after_sync);
  // A full disk, or a drain: hand each led group to its most caught-up voter.
  void shed_leadership();
  // That voter among those that answered lately; empty when none did.
  std::string successor_of(const Replica& r) const;
  // Refused while the disk is full: what would write log entries here.
  bool refuse_for_full_disk(const RaftMessage& message);
  void lead_start(uint32_t partition, Replica& r);
  void lead_end(uint32_t partition, Replica& r);
  void reconcile();
  // True when the group is as the ring wants it (nothing proposed, nothing pending).
  bool reconcile_group(uint32_t partition, Replica& r, const std::map<std::string, std::string>& live_replicas);
  std::string address_of_replica(const std::string& replica_id) const;
  std::string leader_address(uint32_t partition) const;
  Replica* replica(uint32_t partition);
  const Replica* replica(uint32_t partition) const;
  Replica* led(uint32_t partition);
  // Proposes an op on a partition this node leads; false when it cannot.
  // The op joins the partition's batch of this step (ReplicationConfig::batch_ops).
  bool propose(uint32_t partition, const TaskOp& op);
  // Appends every partition's batch of ops as one log entry.
  void propose_batched_ops();
  void propose_batch(uint32_t partition, Replica& r);
  // Every leadership transfer goes through here, after the step's batch.
  Status hand_over(uint32_t partition, Replica& r, const std::string& to);
  std::vector<uint32_t> led_partitions() const;

  // --- retention and retried dead letters (retention.cc) ---
  void purge_expired();
  void serve_retry(const ReplyTo& to, const RetryRequest& q);
  void apply_purge(uint32_t partition, Replica& r, const OpPurge& op);

  // --- task side effects of committed ops (node_state.cc) ---
  void on_applied(uint32_t partition, Replica& r, const TaskOp& op, const Status& status);
  // `renewed`: the op just applied extended the record's lease.
  void reindex(uint32_t partition, const TaskRecord& record, bool renewed);
  // A record's deadlines were set on the clock of whichever leader proposed
  // them; this leader keeps its own, measured from the durations on its
  // clock. `previous` is the lease it held for the task before, if any.
  Lease lease_on_this_clock(uint32_t partition, const TaskRecord& record, uint32_t attempt, const Lease* previous,
                            bool renewed) const;
  // Enters the leases of a leased record (its lease, and a backup racing
  // it); `previous` holds the leases this leader had for it, by attempt.
  void enter_leases(uint32_t partition, const TaskRecord& record, const std::map<uint32_t, Lease>& previous,
                    bool renewed);
  // When a pending task becomes runnable here: the record's backoff, but
  // never later than its longest backoff from now (another leader's clock
  // may be far ahead of this one).
  uint64_t not_before_on_this_clock(const TaskRecord& record) const;

  // --- serving on a leader (node_state.cc) ---
  void serve_submit(const ReplyTo& to, uint32_t partition, std::vector<TaskSpec> tasks);
  SubmitOutcome check_submit(Replica& r, const TaskSpec& spec, bool* propose_it);
  void settle_submits(const TaskKey& key, const TaskRecord* record);
  void finish_submit_part(uint64_t part_id);
  // Answers the parts of a partition this node stopped leading with
  // kNotLeader; the caller drops in-flight ids nobody waits for any more.
  void fail_submit_parts(uint32_t partition);
  void forget_part_waits(uint64_t part_id);
  FanoutReply serve_get(const GetRequest& q) const;
  FanoutReply serve_list(const ListRequest& q) const;
  void serve_wait(const ReplyTo& to, const WaitRequest& q);
  void serve_cancel(const ReplyTo& to, const CancelRequest& q);
  // Proposes OpCancel (or OpRetry) for the ids on led partitions and answers
  // once they are committed.
  void serve_task_ends(const ReplyTo& to, const std::vector<std::string>& ids, bool retry);
  // Settles the cancels and retries waiting on `key`; `record` is null once purged.
  void settle_cancels(const TaskKey& key, const TaskRecord* record);
  void answer_outcomes(CancelWait c);
  void resolve_waiters();
  void reply_wait(uint64_t waiter_id);
  Status validate(const TaskSpec& spec) const;
  // Whether a new task may be stored now: not draining, disk not full,
  // valid, and under max_unfinished (`unfinished_now` counts proposals too).
  Status admit(const TaskSpec& spec, size_t unfinished_now) const;
  // Both propose the attempt's end on a led partition; false when the group
  // refuses the proposal (a leadership hand-over), so the caller may retry.
  bool fail_attempt(uint32_t partition, const TaskRecord& r, uint32_t attempt, AttemptOutcome outcome,
                    std::string error);
  bool commit_outcome(uint32_t partition, const TaskRecord& r, uint32_t attempt, bool ok, const std::string& output);
  void expire_deadlines();
  void dispatch();
  // Placement (node/core/placement.cc): how many more runs each member can
  // take now (this node included), and which of them runs the next task.
  struct Room {
    uint32_t free = 0;   // runs it can take now
    uint32_t slots = 0;  // its executor slots in all
    std::string address;
    // Adaptive only: expected µs to a success there; 0 unknown (no run yet).
    uint64_t success_us = 0;
  };
  // `every_member`: others too under key placement (a backup attempt's runner).
  std::map<std::string, Room> placement_room(bool every_member = false);
  // A member's load digest as placement last saw it arrive: its version, and
  // this node's runs then out on that member.
  struct DigestBaseline {
    uint64_t version = UINT64_MAX;
    uint32_t out = 0;
  };
  std::string choose_runner(const std::map<std::string, Room>& room, bool stealable);
  std::string choose_adaptive(const std::map<std::string, Room>& room) const;
  // Proposes the lease of `key` to `runner` (a backup attempt: racing the
  // lease): this node starts it once committed, another member gets a grant.
  bool lease_to(const TaskKey& key, const std::string& runner, const Room& room,
                std::map<std::string, uint64_t>& grant_of_runner, bool backup = false);
  // Backup attempts (node/core/backup_attempts.h): starts one for each
  // straggling attempt of a job on a led partition, on a member with room.
  void start_backup_attempts();
  // The member with the most room, other than the straggler's `owner`; empty when none has any.
  std::string choose_backup_runner(const std::map<std::string, Room>& room, const std::string& owner) const;
  void publish_load();
  std::optional<uint64_t> next_wake() const;
  void count(const std::string& name, uint64_t n = 1) { counters_[name] += n; }
  void event(std::string kind, std::string subject, std::string detail = {}) {
    out_.events.push_back(MeshEvent{0, now_ms_, std::move(kind), std::move(subject), std::move(detail)});
  }
  void membership_events();
  // Sets out_.known_peers when the other live members' addresses changed.
  void remember_peers();

  // --- routing at the origin (routing.cc) ---
  void route_submit(RequestRef request, std::vector<TaskSpec> tasks);
  void send_route(uint64_t route_id, Route& route);
  void on_route_answer(uint64_t route_id, const RouteSubmitReply& reply);
  void finish_client_submit(uint64_t client_id);
  void on_peer(const RouteSubmit& m);
  void on_peer(const RouteSubmitReply& m);
  // `ask`: a component's ask (ComponentHost::ask), whose component gets the
  // answer instead of a client.
  void start_fanout(RequestRef request, Request query, uint64_t timeout_ms, std::optional<AskRef> ask = std::nullopt);
  void send_fanout_round(uint64_t fanout_id, FanoutState& f);
  void on_peer(const Fanout& m);
  void on_peer(const FanoutReply& m);
  void serve_fanout(const ReplyTo& to, const Request& query);
  void answer(const ReplyTo& to, FanoutReply reply);
  void answer_route(const ReplyTo& to, RouteSubmitReply reply);
  Request fanout_query(const FanoutState& f) const;
  void finish_fanout(uint64_t fanout_id, Reply reply);
  void on_fanout_answer(const FanoutReply& reply);
  void finish_fanout_round(uint64_t fanout_id);
  // The addresses that lead (or, leader unknown, replicate) the partitions
  // of the ids a get, wait, cancel or retry names: of the keys a get or wait
  // gives, else of the ids themselves (tasks submitted without a key) (none beyond this node when it leads them all); nullopt
  // when the query names no ids, or is a list.
  std::optional<std::set<std::string>> targeted_addresses(const Request& query) const;
  // Whether every id the query names is found (get, wait) or settled
  // (cancel, retry): no other partition can change the answer.
  bool named_ids_resolved(const FanoutState& f) const;
  void expire_routes();
  std::vector<std::string> route_candidates(uint32_t partition) const;

  // --- work stealing and remote outcomes (work_stealing.cc) ---
  void on_peer(const StealRequest& m);
  void on_peer(const StealGrant& m);
  void on_peer(const LeaseRenewal& m);
  // This node's answer about `partition` to a runner: leads it, or names the leader it knows.
  PartitionLeader leader_hint(uint32_t partition) const;
  void on_peer(const StolenResult& m);
  void on_peer(const StolenResultAck& m);
  void maybe_steal();
  bool idle_with_free_slots() const;
  std::vector<MemberView> steal_candidates() const;
  // A victim's gossiped backlog (0: not known yet) lasts as long as `runs`
  // of this node's own mean run time: it would not get to stolen tasks sooner.
  bool backlog_outlasts_own_runs(const LoadDigest& victim, uint64_t runs) const;
  std::optional<MemberView> choose_victim();
  void settle_grants(const TaskKey& key, const TaskRecord& record);
  void send_grant(uint64_t grant_id);
  void on_peer(const LeaderHints& m);
  void report_outcome(const TaskKey& key, const Run& run, bool ok, std::string output);
  // Proposes the outcome when this node leads its partition, else sends it
  // to the leader; false once there is nothing left to deliver.
  bool deliver_result(const TaskKey& key, PendingResult& p);
  void settle_result(const TaskKey& key, uint32_t attempt);
  // Enters a run of `key`. A run of another attempt of the task still here
  // (a backup's runner whose lease lapsed, picked again) is stopped first:
  // its outcome could never commit.
  void enter_run(const TaskKey& key, Run run);
  // Stops a run of this node whose attempt has ended (counted as runs_fenced).
  void stop_fenced_run(std::map<TaskKey, Run>::iterator run);
  // A renewal of an attempt whose lease this leader holds no more: when its
  // table shows that attempt ended (a backup completed first, a cancel), the
  // runner is told it is fenced, and stops it.
  void fence_if_ended(const AttemptRef& ref, const std::string& runner, const std::string& runner_address);
  // Answers the runners whose results wait on the op just applied to
  // `record`: the one of `attempt`, and every other once the task is done.
  void acknowledge_results(const TaskKey& key, uint32_t attempt, const TaskRecord& record);
  // A lease of the task is proposed and not yet applied: another proposal
  // would race it for the same attempt number (and grant).
  bool lease_in_flight(const TaskKey& key) const { return leasing_.count(key) || grant_of_task_.count(key); }
  // `timed`: the runner's periodic renewal (an unanswered previous one
  // moves on to the next candidate); else following a redirect.
  void renew_remote(const std::vector<RunRef>& running, bool timed);
  std::string leader_guess(uint32_t partition);
  // The silence bookkeeping of a partition's leader guess: a target left
  // unanswered for a resend period gives way (true when it did).
  bool give_up_on_silent_target(uint32_t partition);
  void note_unanswered(uint32_t partition);
  void note_answered(uint32_t partition, const std::string& from_address);
  // The led partition holding `id` (the first, when the id is reused under
  // another key); nullopt when none of the led ones does.
  std::optional<uint32_t> led_partition_of(const std::string& id) const;
  // `purged`: retention removed the record (see JobIndex::forget).
  void unindex_task(const std::string& id, uint32_t partition, bool purged = false);
  void expire_stealing_deadlines();
  // Hands attempts waiting here (granted, or leased ahead) to free slots;
  // their timeouts start now.
  void start_waiting_runs();
  // How many own attempts to lease beyond the free slots: enough to cover a
  // replicated round at the measured run time (one per slot until a run is
  // measured, and at least that), at most lease_ahead_max.
  size_t lease_ahead() const;
  // Whether the attempt of `key` waits here for a slot: its timeout has not started.
  bool waits_for_slot(const TaskKey& key, uint32_t attempt) const;
  bool timed_out(const LeaseKey& key, const Lease& lease) const {
    return now_ms_ >= lease.timeout_at_ms && !waits_for_slot(key.task, key.attempt);
  }
  // How long this node has run an attempt (0: waiting, or not running here).
  uint64_t ran_ms(const TaskKey& key) const;
  // A renewal says how long the runner has run the attempt: the timeout of a
  // lease this node judges is `timeout_ms` after the run started, never
  // earlier than it was.
  void rearm_timeout(Lease& lease, const TaskKey& key, uint64_t ran_ms);
  void note_steal(const std::string& victim, const std::string& thief, size_t tasks);
  void send(const std::string& address, PeerMessage message, bool after_sync = false);

  NodeConfig config_;
  std::string replica_id_;
  Random& random_;
  std::map<uint32_t, Replica> replicas_;
  std::vector<uint32_t> partitions_with_batched_ops_;  // this step, in first-proposal order
  // id -> partitions hosting a task of that id, for requests naming bare ids.
  std::multimap<std::string, uint32_t> task_partition_;
  ReadyQueue ready_;                    // pending tasks of led partitions
  std::map<LeaseKey, Lease> leases_;    // leases of tasks of led partitions, one per running attempt
  // The leases of one task, in attempt order.
  auto leases_of(const TaskKey& key) {
    return std::pair{leases_.lower_bound(LeaseKey{key, 0}), leases_.upper_bound(LeaseKey{key, UINT32_MAX})};
  }
  std::set<TaskKey> leasing_;           // own leases proposed, not yet committed
  std::map<TaskKey, Run> runs_;
  std::map<TaskKey, PendingResult> pending_results_;
  std::map<uint32_t, LeaderGuess> leader_guesses_;
  std::map<LeaseKey, ResultWait> result_waits_;  // by the attempt whose result it is

  std::map<uint64_t, SubmitPart> submit_parts_;
  std::multimap<TaskKey, std::pair<uint64_t, size_t>> submit_waits_;  // task -> (part, outcome index)
  std::set<TaskKey> submits_in_flight_;  // tasks this leader proposed, not yet applied
  std::map<uint64_t, ClientSubmit> client_submits_;
  std::map<uint64_t, Route> routes_;
  std::map<uint64_t, FanoutState> fanouts_;
  std::map<uint64_t, Waiter> waiters_;
  std::multimap<TaskKey, uint64_t> waiters_by_task_;
  std::set<uint64_t> completed_waiters_;
  std::map<uint64_t, CancelWait> cancel_waits_;
  std::map<uint64_t, HeldRead> held_reads_;
  std::map<std::pair<uint32_t, std::string>, std::vector<std::pair<ReplyTo, Request>>> intent_reads_;  // (partition, txn)
  std::map<uint32_t, std::vector<uint64_t>> reads_to_confirm_;  // partition -> held reads, this step
  std::map<uint64_t, std::pair<uint32_t, std::vector<uint64_t>>> read_rounds_;  // round -> partition, reads
  std::multimap<TaskKey, std::pair<uint64_t, size_t>> cancels_by_task_;
  std::map<uint64_t, PendingGrant> grants_;
  std::map<TaskKey, uint64_t> grant_of_task_;
  uint64_t next_handle_ = 1;
  std::string last_round_robin_;  // member that got the previous round-robin task

  std::optional<uint64_t> steal_in_flight_until_ms_;
  uint64_t next_steal_ms_ = 0;
  bool steal_victim_seen_ = false;
  uint64_t steal_scanned_view_ = UINT64_MAX;
  std::optional<LoadDigest> published_load_;
  StealHistory steal_history_;
  std::map<std::string, uint64_t> counters_;
  bool draining_ = false;
  bool storage_full_ = false;
  Membership membership_;
  bool joined_ = false;
  // The other live members' addresses as last kept on disk (or recovered).
  std::vector<std::string> known_peers_;
  uint64_t known_peers_version_ = 0;  // membership's live_version they were taken at
  uint64_t next_load_publish_ms_ = 0;
  uint64_t next_reconcile_ms_ = 0;
  uint64_t next_purge_ms_ = 0;
  uint64_t next_full_reconcile_ms_ = 0;
  uint64_t reconciled_live_version_ = UINT64_MAX;
  uint64_t seen_live_version_ = UINT64_MAX;
  uint64_t live_version_seen_ms_ = 0;
  bool reconcile_pending_ = true;
  // Replicas an operator said are gone for good: the groups led here drop
  // them even below R voters (reconcile_group). Bounded: a typo repeated
  // forever must not grow it.
  std::set<std::string> removed_by_operator_;
  static constexpr size_t kMaxRemovedByOperator = 1000;
  uint64_t average_run_ms_ = 0;  // moving average of successful attempts, for the backlog estimate
  uint64_t average_slot_us_ = 0;  // moving average of an own run in an executor slot, for lease_ahead
  uint32_t failure_permille_ = 0;  // moving average of own runs that failed, for adaptive placement
  std::map<std::string, DigestBaseline> digest_baseline_;  // by alive member id
  JobIndex jobs_;                          // tasks of jobs on every hosted replica, for backup attempts
  uint64_t next_backup_check_ms_ = 0;
  bool watching_for_stragglers_ = false;  // a job's attempt runs on a led partition
  mutable std::optional<PartitionTable> table_cache_;
  mutable uint64_t table_cache_version_ = 0;
  bool node_dead(const std::string& node_id) const;

  std::unique_ptr<ComponentHost> component_host_;
  std::unique_ptr<Transactions> txns_;
  std::unique_ptr<Dependencies> deps_;

  // Per-step scratch.
  uint64_t now_ms_ = 0;
  Effects out_;
  struct RaftOutbox {
    std::vector<RaftMessage> early;       // a leader's, free to leave before the turn's writes
    std::vector<RaftMessage> after_sync;  // answers, votes, a lone voter's appends
  };
  std::map<std::string, RaftOutbox> raft_out_;  // by destination address
};

}  // namespace mesh
