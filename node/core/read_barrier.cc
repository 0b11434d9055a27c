// NodeState's read barrier: a leader's answer to a read (get, wait, list,
// cancel and retry lookups) leaves only for the partitions whose leadership
// a Raft ReadIndex round has confirmed since the answer was computed. A
// majority that acknowledged this leader's term after the answer was made
// had not voted for a newer leader yet, so no newer leader had committed
// anything the answer could miss: the read is linearizable. One round per
// partition and step serves every read held in that step.
#include <algorithm>

#include "node/core/node_state.h"

namespace mesh {

void NodeState::hold_until_confirmed(const ReplyTo& to, FanoutReply reply) {
  if (reply.covered.empty()) return deliver(to, std::move(reply));
  uint64_t read_id = next_handle_++;
  HeldRead held{to, std::move(reply), {}, {}};
  for (uint32_t p : held.reply.covered) {
    held.unconfirmed.insert(p);
    reads_to_confirm_[p].push_back(read_id);
  }
  held_reads_.emplace(read_id, std::move(held));
}

bool NodeState::hold_for_intents(const ReplyTo& to, const Request& query, const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    if (led_partition_of(id)) continue;
    for (const auto& [p, r] : replicas_) {
      const std::string* txn = r.leading ? r.table.locked_by(id) : nullptr;
      if (txn == nullptr) continue;
      intent_reads_[{p, *txn}].emplace_back(to, query);
      return true;
    }
  }
  return false;
}

// `txn` resolved on `partition`, or every transaction when it is null (the
// leadership ended).
void NodeState::release_intent_reads(uint32_t partition, const std::string* txn) {
  std::vector<std::pair<ReplyTo, Request>> released;
  for (auto it = intent_reads_.lower_bound({partition, txn ? *txn : std::string{}}); it != intent_reads_.end();) {
    if (it->first.first != partition || (txn != nullptr && it->first.second != *txn)) break;
    for (auto& read : it->second) released.push_back(std::move(read));
    it = intent_reads_.erase(it);
  }
  for (const auto& [to, query] : released) serve_fanout(to, query);
}

void NodeState::start_read_rounds() {
  if (reads_to_confirm_.empty()) return;
  auto waiting = std::move(reads_to_confirm_);
  reads_to_confirm_.clear();
  for (auto& [p, reads] : waiting) {
    uint64_t round = next_handle_++;
    read_rounds_[round] = {p, std::move(reads)};
    Replica* r = led(p);
    if (r == nullptr || !r->raft->read_index(now_ms_, round).ok()) on_read_round(p, round, false);
  }
  // The rounds' heartbeats go out with this step; a lone voter confirms at once.
  drain_groups();
}

void NodeState::on_read_round(uint32_t partition, uint64_t round, bool confirmed) {
  auto it = read_rounds_.find(round);
  if (it == read_rounds_.end() || it->second.first != partition) return;
  std::vector<uint64_t> reads = std::move(it->second.second);
  read_rounds_.erase(it);
  count(confirmed ? "read_rounds_confirmed" : "read_rounds_refused");
  for (uint64_t read_id : reads) {
    auto held = held_reads_.find(read_id);
    if (held == held_reads_.end()) continue;
    held->second.unconfirmed.erase(partition);
    if (!confirmed) held->second.refused.insert(partition);
    if (held->second.unconfirmed.empty()) release_read(read_id);
  }
}

// Partitions that could not confirm leave the answer: the origin counts
// them as not covered and asks again or answers unavailable, never
// "missing" or "not found" on this node's word.
void NodeState::release_read(uint64_t read_id) {
  HeldRead held = std::move(held_reads_.at(read_id));
  held_reads_.erase(read_id);
  if (!held.refused.empty()) {
    std::erase_if(held.reply.covered, [&](uint32_t p) { return held.refused.count(p) > 0; });
    auto unconfirmed_record = [&](const TaskRecord& r) { return held.refused.count(r.partition) > 0; };
    std::visit(
        [&](auto& r) {
          if constexpr (requires { r.records; }) std::erase_if(r.records, unconfirmed_record);
        },
        held.reply.reply);
  }
  deliver(held.to, std::move(held.reply));
}

}  // namespace mesh
