// NodeState's retention: leaders remove finished records through the log;
// and dead letters re-queued on request (OpRetry).
//
// Time model. A record's finished_ms is the `at_ms` of the op that finished
// it, stamped by the leader that proposed it from its input clock (now_ms;
// in meshd, wall-clock milliseconds). The purge cutoffs are computed by the
// proposing leader on that same clock, as now_ms - retention, and travel in
// the op; applying compares them with finished_ms and reads no clock, so
// every replica removes the same records. Clock skew between successive
// leaders shifts a record's retention by that skew, never its agreement.
#include "node/core/node_state.h"
#include "protocol/limits.h"

namespace mesh {

namespace {

uint64_t minus_or_zero(uint64_t now_ms, uint64_t span_ms) { return now_ms > span_ms ? now_ms - span_ms : 0; }

}  // namespace

void NodeState::purge_expired() {
  if (now_ms_ < next_purge_ms_) return;
  next_purge_ms_ = now_ms_ + config_.retention.purge_interval_ms;
  OpPurge op{minus_or_zero(now_ms_, config_.retention.finished_ms),
             minus_or_zero(now_ms_, config_.retention.dead_letter_ms), config_.retention.purge_batch_max};
  for (uint32_t p : led_partitions()) {
    // Only when something is due: an idle partition's log stays quiet.
    if (!replicas_.at(p).table.has_expired(op.finished_before_ms, op.failed_before_ms)) continue;
    if (propose(p, op)) count("purges_proposed");
  }
}

void NodeState::serve_retry(const ReplyTo& to, const RetryRequest& q) {
  if (!q.all_failed) return serve_task_ends(to, q.ids, true);
  // Every dead letter of the led partitions, bounded by what one reply carries.
  std::vector<std::string> ids;
  for (uint32_t p : led_partitions()) {
    for (const auto& [id, record] : replicas_.at(p).table.records()) {
      if (ids.size() == limits::kMaxBatchTasks) break;
      if (record.state == TaskState::kFailed) ids.push_back(id);
    }
  }
  serve_task_ends(to, ids, true);
}

void NodeState::apply_purge(uint32_t partition, Replica& r, const OpPurge& op) {
  std::vector<std::string> removed = r.table.purge(op);
  for (const auto& id : removed) unindex_task(id, partition, /*purged=*/true);
  count("tasks_purged", removed.size());
}

}  // namespace mesh
