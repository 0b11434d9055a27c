#include "node/core/raft_log.h"

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <utility>

#include "node/core/assert.h"

namespace mesh {

RaftLog::RaftLog(SnapshotMeta snapshot, std::vector<LogEntry> entries) : snapshot_(std::move(snapshot)) {
  for (auto& entry : entries) append(std::move(entry));
}

std::optional<uint64_t> RaftLog::term_at(uint64_t index) const {
  if (index == snapshot_.index) return snapshot_.term;
  if (index < snapshot_.index || index > last_index()) return std::nullopt;
  return at(index).term;
}

const LogEntry& RaftLog::at(uint64_t index) const {
  MESH_ASSERT(index >= first_index() && index <= last_index(), "log index out of range");
  return entries_[index - first_index()];
}

std::vector<LogEntry> RaftLog::slice(uint64_t from, uint64_t to) const {
  std::vector<LogEntry> out;
  if (from > to) return out;
  MESH_ASSERT(from >= first_index() && to <= last_index(), "slice out of range");
  out.reserve(to - from + 1);
  for (uint64_t i = from; i <= to; ++i) out.push_back(at(i));
  return out;
}

bool RaftLog::is_up_to_date(uint64_t other_last_index, uint64_t other_last_term) const {
  if (other_last_term != last_term()) return other_last_term > last_term();
  return other_last_index >= last_index();
}

uint64_t RaftLog::first_index_of_term_at(uint64_t index) const {
  uint64_t term = at(index).term;
  // Terms never decrease along the log: the first entry of term >= `term`.
  auto it =
      std::partition_point(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(index - snapshot_.index),
                           [term](const LogEntry& e) { return e.term < term; });
  return it->index;
}

std::optional<uint64_t> RaftLog::last_index_of_term(uint64_t term, uint64_t at_most) const {
  if (at_most < snapshot_.index) return std::nullopt;
  uint64_t end = std::min(at_most, last_index()) - snapshot_.index;  // entries considered: [0, end)
  // Terms never decrease along the log: find the last entry of term <= `term`.
  auto it = std::partition_point(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(end),
                                 [term](const LogEntry& e) { return e.term <= term; });
  if (it != entries_.begin()) {
    const LogEntry& last = *std::prev(it);
    return last.term == term ? std::optional<uint64_t>(last.index) : std::nullopt;
  }
  return snapshot_.term == term ? std::optional<uint64_t>(snapshot_.index) : std::nullopt;
}

RaftLog::ConfigAt RaftLog::config_at(uint64_t index) const {
  MESH_ASSERT(index >= snapshot_.index && index <= last_index(), "config_at out of range");
  for (; index >= first_index(); --index) {
    const LogEntry& entry = at(index);
    if (entry.type == EntryType::kConfig) return {index, &entry.voters, &entry.learners};
  }
  return {snapshot_.index, &snapshot_.voters, &snapshot_.learners};
}

void RaftLog::append(LogEntry entry) {
  MESH_ASSERT(entry.index == last_index() + 1, "log append must be contiguous");
  MESH_ASSERT(entry.term >= last_term(), "log terms must not decrease");
  entries_.push_back(std::move(entry));
}

void RaftLog::truncate_from(uint64_t index) {
  MESH_ASSERT(index > snapshot_.index, "cannot truncate into the snapshot");
  while (last_index() >= index) entries_.pop_back();
}

void RaftLog::compact_to(SnapshotMeta meta) {
  MESH_ASSERT(meta.index > snapshot_.index && meta.index <= last_index(), "compaction out of range");
  MESH_ASSERT(term_at(meta.index) == meta.term, "compaction term mismatch");
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(meta.index - snapshot_.index));
  snapshot_ = std::move(meta);
}

void RaftLog::reset(SnapshotMeta meta) {
  entries_.clear();
  snapshot_ = std::move(meta);
}

}  // namespace mesh
