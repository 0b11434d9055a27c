#include "node/core/steal_history.h"

#include "node/core/assert.h"

namespace mesh {

void StealHistory::note(uint64_t now_ms, const std::string& victim, const std::string& thief, size_t tasks) {
  MESH_ASSERT(victim != thief, "a node steals from another node");
  recent_.push_back({now_ms, victim, thief, static_cast<uint32_t>(tasks)});
  if (recent_.size() > kRecent) recent_.pop_front();
  auto [it, added] = totals_.try_emplace({victim, thief}, StealTotal{victim, thief, 0, 0, 0});
  it->second.batches += 1;
  it->second.tasks += tasks;
  it->second.last_at_ms = now_ms;
  if (added && totals_.size() > kMaxPairs) {
    auto stalest = totals_.end();
    for (auto pair = totals_.begin(); pair != totals_.end(); ++pair) {
      if (pair == it) continue;  // the pair that just stole stays
      if (stalest == totals_.end() || pair->second.last_at_ms < stalest->second.last_at_ms) stalest = pair;
    }
    totals_.erase(stalest);
  }
  MESH_ASSERT(recent_.size() <= kRecent && totals_.size() <= kMaxPairs, "the history stays bounded");
}

std::vector<StealTotal> StealHistory::totals() const {
  std::vector<StealTotal> out;
  out.reserve(totals_.size());
  for (const auto& [pair, total] : totals_) out.push_back(total);
  return out;
}

}  // namespace mesh
