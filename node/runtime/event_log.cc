#include "node/runtime/event_log.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace mesh {

namespace {

// Warnings: what an operator should look at (losses, suspicions, aborts).
// Debug: what comes by the dozen (leadership and replicas of every partition
// when a node starts, joins or leaves; steals and commits on a busy mesh);
// the ring keeps them all the same, for meshctl events.
spdlog::level::level_enum level_of(const std::string& kind) {
  static const std::set<std::string> kWarnings = {"member_suspect", "member_dead", "txn_aborted",
                                                  "task_dead_lettered", "partition_halted", "quorum_lost",
                                                  "store_error",     "storage_full"};
  static const std::set<std::string> kFrequent = {"steal",         "txn_committed",  "leader_gained",
                                                  "leader_lost",   "replica_added", "replica_removed"};
  if (kWarnings.count(kind)) return spdlog::level::warn;
  return kFrequent.count(kind) ? spdlog::level::debug : spdlog::level::info;
}

}  // namespace

void EventLog::add(MeshEvent event, Logging logging) {
  event.seq = next_seq_++;
  if (logging == Logging::kLog) {
    spdlog::log(level_of(event.kind),
                "event={} subject=\"{}\" detail=\"{}\" seq={}", event.kind, event.subject, event.detail, event.seq);
  }
  ring_.push_back(std::move(event));
  if (ring_.size() > capacity_) ring_.pop_front();
}

EventsReply EventLog::since(const std::string& node_id, uint64_t after_seq, size_t max) const {
  EventsReply reply;
  reply.node_id = node_id;
  reply.first_kept_seq = ring_.empty() ? next_seq_ : ring_.front().seq;
  auto first = std::upper_bound(ring_.begin(), ring_.end(), after_seq,
                                [](uint64_t seq, const MeshEvent& e) { return seq < e.seq; });
  for (auto it = first; it != ring_.end() && reply.events.size() < max; ++it) reply.events.push_back(*it);
  return reply;
}

}  // namespace mesh
