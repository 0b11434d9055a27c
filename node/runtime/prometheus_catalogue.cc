#include "node/runtime/prometheus_catalogue.h"

#include <array>

namespace mesh {

namespace {

using T = MetricType;

constexpr std::array<double, 16> kLatencySeconds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                    0.25,   0.5,   1,      2.5,   5,    10,    30,    60};
constexpr std::array<double, 12> kSyncSeconds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                 0.01,   0.025,   0.05,   0.1,   0.25,   1};
constexpr std::array<double, 11> kBatchRecords = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000};

// Counters of the core (node/core) and the driver. A test checks that every
// counter named in the sources is here.
constexpr MetricFamily kFamilies[] = {
    // Tasks.
    {T::kCounter, "tasks_submitted", "tasks_submitted_total", "Tasks accepted on partitions this node leads."},
    {T::kCounter, "submit_duplicates", "submit_duplicates_total",
     "Submits of an id already stored with the same spec (answered duplicate)."},
    {T::kCounter, "submit_rejected_", "submit_rejected_total", "Tasks of submits refused, by error code.", "code"},
    {T::kCounter, "tasks_completed", "tasks_completed_total", "Tasks committed as COMPLETED on led partitions."},
    {T::kCounter, "tasks_cancelled", "tasks_cancelled_total", "Tasks committed as CANCELLED on led partitions."},
    {T::kCounter, "tasks_dead_lettered", "tasks_dead_lettered_total",
     "Tasks that used up their attempts and became FAILED (dead letters)."},
    {T::kCounter, "tasks_dead_lettered_lost_runners", "tasks_dead_lettered_lost_runners_total",
     "Dead letters made by max_lost_attempts: the task lost its runner that many attempts in a row."},
    {T::kCounter, "attempts_started", "attempts_started_total", "Attempts this node started running."},
    {T::kCounter, "attempts_failed", "attempts_failed_total", "Attempts that failed (retried or dead-lettered)."},
    {T::kCounter, "attempts_timed_out", "attempts_timed_out_total", "Attempts that ran past their task's timeout."},
    {T::kCounter, "leases_renewed", "leases_renewed_total", "Lease renewals committed for this node's own runs."},
    {T::kCounter, "leases_expired", "leases_expired_total",
     "Leases of this node's own runs that ran out (task back to PENDING)."},
    {T::kCounter, "stale_completions_rejected", "stale_completions_rejected_total",
     "Outcomes rejected because their attempt was no longer the current lease (fencing)."},
    {T::kCounter, "tasks_placed", "tasks_placed_total", "Tasks placement sent to another member to run."},
    {T::kCounter, "tasks_retried", "tasks_retried_total", "Dead letters re-queued by a retry request."},
    {T::kCounter, "purges_proposed", "purges_proposed_total",
     "Purge operations this leader proposed for records past their retention."},
    {T::kCounter, "tasks_purged", "tasks_purged_total", "Finished records removed after their retention."},
    // Work stealing.
    {T::kCounter, "steal_requests_sent", "steal_requests_sent_total", "Steal requests this node sent as a thief."},
    {T::kCounter, "steal_requests_received", "steal_requests_received_total",
     "Steal requests this node received as a victim."},
    {T::kCounter, "steal_requests_unanswered", "steal_requests_unanswered_total",
     "Steal requests given up without a grant."},
    {T::kCounter, "steal_grants_empty", "steal_grants_empty_total", "Grants that carried no task."},
    {T::kCounter, "tasks_stolen", "tasks_stolen_total", "Tasks this node received in steal grants."},
    {T::kCounter, "tasks_lent", "tasks_lent_total", "Tasks this node's partitions lent to thieves."},
    {T::kCounter, "stolen_attempts_finished", "stolen_attempts_finished_total",
     "Attempts of borrowed tasks this node finished."},
    {T::kCounter, "stolen_attempts_timed_out", "stolen_attempts_timed_out_total",
     "Attempts of borrowed tasks that ran past their timeout."},
    {T::kCounter, "stolen_results_accepted", "stolen_results_accepted_total",
     "Outcomes of remote runners this node's partitions accepted."},
    {T::kCounter, "stolen_results_resent", "stolen_results_resent_total",
     "Outcomes of borrowed tasks sent again for want of an acknowledgement."},
    {T::kCounter, "stolen_results_abandoned", "stolen_results_abandoned_total",
     "Outcomes of borrowed tasks given up after twenty lease lengths without an acknowledgement."},
    {T::kCounter, "stolen_leases_renewed", "stolen_leases_renewed_total", "Lease renewals committed for thieves."},
    {T::kCounter, "stolen_leases_expired", "stolen_leases_expired_total",
     "Leases of thieves that ran out (task back to PENDING)."},
    {T::kCounter, "backup_attempts_proposed", "backup_attempts_proposed_total",
     "Backup attempts this leader proposed for straggling attempts of a job's tasks."},
    {T::kCounter, "backup_attempts_started", "backup_attempts_started_total",
     "Backup attempts committed on partitions this node leads."},
    {T::kCounter, "backup_attempts_won", "backup_attempts_won_total",
     "Tasks completed by their backup attempt before the attempt it raced."},
    {T::kCounter, "runs_fenced", "runs_fenced_total",
     "Attempts running here stopped because their leader said they had ended (a backup won, a cancel)."},
    {T::kCounter, "leader_hints_redirected", "leader_hints_redirected_total",
     "Renewals or results of a partition this node sent where it is not led, redirected by the receiver."},
    {T::kCounter, "leader_announcements", "leader_announcements_total",
     "LeaderHints a new partition leader sent to the runners of its leased tasks."},
    {T::kCounter, "leader_hints_stale", "leader_hints_stale_total",
     "Leader hints ignored because their sender is behind on the partition's elections."},
    {T::kCounter, "lease_renewal_targets_changed", "lease_renewal_targets_changed_total",
     "Renewals or results left unanswered for a resend period, so the partition's next candidate leader is tried."},
    {T::kCounter, "results_for_other_leader", "results_for_other_leader_total",
     "Outcomes received for a partition this node does not lead (left unanswered)."},
    {T::kCounter, "results_deferred", "results_deferred_total",
     "Outcomes left unanswered during a leadership hand-over (the runner resends)."},
    {T::kCounter, "results_not_judged", "results_not_judged_total",
     "Outcomes left unanswered because this leader's table has not applied their attempt yet (it may be deposed)."},
    // Replication.
    {T::kCounter, "partitions_founded", "partitions_founded_total", "Partition groups created by founding the mesh."},
    {T::kCounter, "partitions_recovered", "partitions_recovered_total", "Partition groups loaded from disk at start."},
    {T::kCounter, "leaderships_gained", "leaderships_gained_total", "Partitions this node started leading."},
    {T::kCounter, "quorum_losses_seen", "quorum_losses_seen_total",
     "Times a replica here knew no leader of its partition for three election timeouts (event quorum_lost)."},
    // Transactions (atomic submits).
    {T::kCounter, "txns_started", "txns_started_total", "Atomic submits this node started as origin."},
    {T::kCounter, "txns_committed", "txns_committed_total",
     "Transactions decided commit on coordinator partitions this node leads."},
    {T::kCounter, "txns_aborted", "txns_aborted_total",
     "Transactions decided abort on coordinator partitions this node leads."},
    {T::kCounter, "txn_prepares_refused", "txn_prepares_refused_total",
     "Prepares this node refused as participant leader (a task exists, is held, or is not admitted)."},
    {T::kCounter, "txn_inquiries_sent", "txn_inquiries_sent_total",
     "Questions about intents held past prepare_timeout_ms, sent to the coordinator partition."},
    {T::kCounter, "txn_inquiries", "txn_inquiries_total", "Inquiries this node answered as coordinator leader."},
    {T::kCounter, "txn_recoveries", "txn_recoveries_total",
     "Staged transactions whose outcome this coordinator leader recovered from their participants."},
    // Dependencies (TaskSpec::after).
    {T::kCounter, "dependency_submits_refused", "dependency_submits_refused_total",
     "Submits refused for their dependencies (a cycle, a parent twice or itself, an unknown parent)."},
    {T::kCounter, "dependency_waits", "dependency_waits_total",
     "Long-polls for a parent's final state started by this node for BLOCKED tasks it leads."},
    {T::kCounter, "dependency_waits_failed", "dependency_waits_failed_total",
     "Long-polls for a parent that ended in an error (no leader reachable), asked again later."},
    {T::kCounter, "dependency_outcomes_proposed", "dependency_outcomes_proposed_total",
     "OpParentsDone entries this node proposed for tasks it leads."},
    {T::kCounter, "tasks_failed_upstream", "tasks_failed_upstream_total",
     "BLOCKED tasks failed because a parent failed, was cancelled or is unknown."},
    {T::kCounter, "leaderships_lost", "leaderships_lost_total", "Partitions this node stopped leading."},
    {T::kCounter, "leadership_transfers", "leadership_transfers_total",
     "Leadership hand-overs this node started toward the ring's preferred replica."},
    {T::kCounter, "replicas_added", "replicas_added_total", "Replica additions this node proposed as leader."},
    {T::kCounter, "replicas_removed", "replicas_removed_total", "Replica removals this node proposed as leader."},
    {T::kCounter, "proposals_refused", "proposals_refused_total",
     "Proposals the Raft group refused (a leadership hand-over)."},
    {T::kCounter, "op_batches_proposed", "op_batches_proposed_total",
     "Log entries proposed as a step's batch of task ops for one partition."},
    {T::kCounter, "snapshots_taken", "snapshots_taken_total", "Partition snapshots taken (log compactions)."},
    {T::kCounter, "snapshots_installed", "snapshots_installed_total", "Partition snapshots installed."},
    {T::kCounter, "snapshots_undecodable", "snapshots_undecodable_total", "Partition snapshots that did not decode."},
    {T::kCounter, "log_entries_undecodable", "log_entries_undecodable_total", "Log entries that did not decode."},
    {T::kCounter, "storage_full_entered", "storage_full_entered_total",
     "Times the free space of the data dir fell below the reserve: no new tasks, no leadership, no log entries."},
    {T::kCounter, "storage_full_left", "storage_full_left_total", "Times the free space of the data dir rose above the reserve again."},
    {T::kCounter, "replicas_removed_by_operator", "replicas_removed_by_operator_total",
     "Voters removed from groups led here because an operator said their disk is gone (meshctl operator remove-replica)."},
    {T::kCounter, "leaderships_handed_over_draining", "leaderships_handed_over_draining_total",
     "Leaderships this node handed to another voter while draining."},
    {T::kCounter, "leadership_shed_storage_full", "leadership_shed_storage_full_total",
     "Leadership transfers this node started because its disk was nearly full."},
    {T::kCounter, "raft_writes_refused_storage_full", "raft_writes_refused_storage_full_total",
     "Appends and snapshot chunks left unanswered because the disk was nearly full."},
    {T::kCounter, "learners_added", "raft_learners_added_total",
     "Replicas this node's led groups added as learners, to be promoted to voters once caught up."},
    {T::kCounter, "learners_removed", "raft_learners_removed_total",
     "Learners removed before their promotion because the ring no longer wanted them."},
    {T::kCounter, "read_rounds_confirmed", "read_rounds_confirmed_total",
     "ReadIndex rounds that confirmed this node still led a partition, releasing the reads held on it."},
    {T::kCounter, "read_rounds_refused", "read_rounds_refused_total",
     "ReadIndex rounds that failed (leadership lost): their partitions were left out of the reads' answers."},
    {T::kCounter, "partitions_halted", "partitions_halted_total",
     "Replicas that stopped serving their partition because what they hold does not decode."},
    {T::kCounter, "raft_messages_to_halted", "raft_messages_to_halted_total",
     "Raft messages dropped because their replica here is halted."},
    {T::kCounter, "raft_messages_misaddressed", "raft_messages_misaddressed_total",
     "Raft messages for an unknown group or another replica (dropped)."},
    {T::kCounter, "raft_messages_unroutable", "raft_messages_unroutable_total",
     "Raft messages to a replica whose address is unknown (dropped)."},
    // Routing.
    {T::kCounter, "routed_not_leader", "routed_not_leader_total", "Routed submits answered not-leader."},
    {T::kCounter, "routed_during_transfer", "routed_during_transfer_total",
     "Routed submits sent on to the replica taking over leadership."},
    {T::kCounter, "routes_retried", "routes_retried_total", "Routed submits sent to another candidate."},
    {T::kCounter, "routes_abandoned", "routes_abandoned_total",
     "Routed submits answered unavailable at their deadline."},
    {T::kCounter, "fanout_replies_too_large", "fanout_replies_too_large_total",
     "Answers to another node's read that were over the frame limit, refused as too large instead."},
    {T::kCounter, "fanout_rounds_widened", "fanout_rounds_widened_total",
     "Reads by id asked every node after the leaders of the ids' own partitions did not find them all."},
    {T::kCounter, "fanout_rounds_retried", "fanout_rounds_retried_total",
     "Fan-out rounds asked again because a partition had no leader."},
    // The driver.
    {T::kCounter, "requests_received", "requests_received_total", "Client requests received."},
    {T::kCounter, "requests_rejected_", "requests_rejected_total", "Client requests refused, by error code.", "code"},
    {T::kCounter, "requests_over_connection_limit", "requests_over_connection_limit_total",
     "Client requests refused overloaded because their connection held as many requests or waits as it may."},
    {T::kCounter, "peer_messages_received", "peer_messages_received_total", "Node-to-node messages received."},
    {T::kCounter, "peer_messages_other_mesh", "peer_messages_other_mesh_total",
     "Node-to-node messages refused because they came from another mesh."},
    {T::kCounter, "peer_messages_forged", "peer_messages_forged_total",
     "Node-to-node messages refused because they named another node than the key they came with."},
    {T::kCounter, "connections_refused", "connections_refused_total",
     "Connections refused because their CURVE key is on no allow-list."},
    {T::kCounter, "plaintext_connections", "plaintext_connections_total",
     "Plaintext connections accepted on an address other than loopback (--insecure)."},
    {T::kCounter, "peer_sends_dropped", "peer_sends_dropped_total",
     "Node-to-node messages dropped because a peer's queue was full."},
    {T::kCounter, "peer_connections_closed", "peer_connections_closed_total",
     "Connections to peer addresses closed because no member uses them any more (reaped or moved)."},
    {T::kCounter, "members_reaped", "members_reaped_total",
     "Members forgotten after being DEAD or LEFT for reap_after_ms."},
    {T::kCounter, "replies_too_large", "replies_too_large_total", "Replies over the frame limit (answered with an error)."},

    // Gauges of the core and the driver.
    {T::kGauge, "txns_in_doubt", "txns_in_doubt",
     "Prepared transactions on partitions this node leads, waiting for their decision."},
    {T::kGauge, "dependency_watched_tasks", "dependency_watched_tasks",
     "BLOCKED tasks on partitions this node leads whose parents it watches."},
    {T::kGauge, "tasks_pending", "tasks", "Tasks on partitions this node leads, by state.", "state", "pending"},
    {T::kGauge, "tasks_blocked", "tasks", "Tasks on partitions this node leads, by state.", "state", "blocked"},
    {T::kGauge, "tasks_leased", "tasks", "Tasks on partitions this node leads, by state.", "state", "leased"},
    {T::kGauge, "tasks_completed", "tasks", "Tasks on partitions this node leads, by state.", "state", "completed"},
    {T::kGauge, "tasks_failed", "tasks", "Tasks on partitions this node leads, by state.", "state", "failed"},
    {T::kGauge, "tasks_cancelled", "tasks", "Tasks on partitions this node leads, by state.", "state", "cancelled"},
    {T::kGauge, "tasks_ready", "tasks_ready", "Pending tasks runnable now on partitions this node leads."},
    {T::kGauge, "tasks_in_backoff", "tasks_in_backoff", "Pending tasks waiting out a retry backoff."},
    {T::kGauge, "tasks_borrowed", "tasks_borrowed", "Attempts this node runs for partitions it does not lead."},
    {T::kGauge, "slots_total", "slots", "Executor slots of this node."},
    {T::kGauge, "slots_free", "slots_free", "Executor slots not running an attempt."},
    {T::kGauge, "run_us", "attempt_run_seconds",
     "Moving average (weight 1/8) of the time an attempt holds one of this node's slots, as gossiped for adaptive "
     "placement.", {}, {}, 0.000001},
    {T::kGauge, "failure_permille", "attempt_failure_ratio",
     "Moving average (weight 1/8) of this node's attempts that failed, as gossiped for adaptive placement.", {}, {},
     0.001},
    {T::kGauge, "partitions_hosted", "partitions_hosted", "Partition groups this node is a replica of."},
    {T::kGauge, "partitions_led", "partitions_led", "Partition groups this node leads."},
    {T::kGauge, "draining", "draining", "1 while the node drains after SIGTERM."},
    {T::kGauge, "storage_full", "storage_full", "1 while the free space of the data dir is below its reserve (read-only)."},
    {T::kGauge, "peer_connections", "peer_connections", "Open outbound connections to peer addresses."},
    {T::kGauge, "members_known", "members_known",
     "Members in this node's table, itself and the DEAD and LEFT not yet reaped included."},
    {T::kGauge, "rss_bytes", "resident_memory_bytes", "Resident set size of meshd."},
    {T::kGauge, "uptime_ms", "uptime_seconds", "Time since meshd started.", {}, {}, 0.001},

    // Histograms of the driver.
    {T::kHistogram, "task_latency_ms", "task_latency_seconds",
     "From submit to the committed outcome, for tasks this node leads.", {}, {}, 0.001, kLatencySeconds},
    {T::kHistogram, "txn_in_doubt_ms", "txn_in_doubt_seconds",
     "How long prepared intents on partitions this node leads waited for their transaction's decision.", {}, {}, 0.001,
     kLatencySeconds},
    {T::kHistogram, "run_ms", "task_run_seconds", "Run time of attempts this node ran.", {}, {}, 0.001,
     kLatencySeconds},
    {T::kHistogram, "store_sync_us", "store_sync_seconds", "Duration of one synced group-commit write.", {}, {},
     0.000001, kSyncSeconds},
    {T::kHistogram, "store_batch_writes", "store_batch_records", "Records in one group-commit write.", {}, {}, 1,
     kBatchRecords},
};

}  // namespace

const MetricFamily* find_metric_family(MetricType type, std::string_view internal_name, std::string* label_value) {
  const MetricFamily* by_prefix = nullptr;
  for (const MetricFamily& f : kFamilies) {
    if (f.type != type) continue;
    if (f.source == internal_name) {
      *label_value = std::string(f.label_value);
      return &f;
    }
    bool prefix_family = !f.label.empty() && f.label_value.empty();
    if (prefix_family && internal_name.size() > f.source.size() && internal_name.starts_with(f.source)) {
      by_prefix = &f;
    }
  }
  if (by_prefix != nullptr) *label_value = std::string(internal_name.substr(by_prefix->source.size()));
  return by_prefix;
}

std::span<const MetricFamily> metric_catalogue() { return kFamilies; }

}  // namespace mesh
