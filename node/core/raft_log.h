// RaftLog: the in-memory log of one Raft group: a snapshot point (the last
// compacted index, its term and the configuration there) followed by the
// entries after it. It holds no policy: the group (raft.h) decides what to
// append, truncate and compact; persistence is the group's Ready contract.
//
// Invariants: entries are contiguous and follow the snapshot point
// (entry k has index snapshot().index + 1 + k); terms never decrease along the
// log; the snapshot point's term is the term the compacted entry had.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "protocol/raft_messages.h"

namespace mesh {

class RaftLog {
 public:
  RaftLog() = default;
  // REQUIRES: entries contiguous from snapshot.index + 1 with non-decreasing terms.
  RaftLog(SnapshotMeta snapshot, std::vector<LogEntry> entries);

  const SnapshotMeta& snapshot() const { return snapshot_; }
  uint64_t first_index() const { return snapshot_.index + 1; }
  uint64_t last_index() const { return snapshot_.index + entries_.size(); }
  uint64_t last_term() const { return entries_.empty() ? snapshot_.term : entries_.back().term; }
  bool empty() const { return entries_.empty(); }

  // Term of the entry at index; the snapshot point counts. Nothing when the
  // index is compacted away or beyond the end.
  std::optional<uint64_t> term_at(uint64_t index) const;
  bool matches(uint64_t index, uint64_t term) const { return term_at(index) == term; }
  // REQUIRES: first_index() <= index <= last_index().
  const LogEntry& at(uint64_t index) const;
  // Entries [from, to], both within the log; empty when from > to.
  std::vector<LogEntry> slice(uint64_t from, uint64_t to) const;

  // Raft's election restriction: is a log ending at (last_index, last_term) at
  // least as up to date as this one?
  bool is_up_to_date(uint64_t last_index, uint64_t last_term) const;
  // First index of the run of entries whose term is the term at `index`,
  // not looking below first_index(). REQUIRES: first_index() <= index <= last_index().
  uint64_t first_index_of_term_at(uint64_t index) const;
  // Last index at or below `at_most` whose entry has exactly `term`; nothing if none is held.
  std::optional<uint64_t> last_index_of_term(uint64_t term, uint64_t at_most) const;
  // The configuration in force after the entry at `index`: the last config
  // entry at or below it, else the snapshot's. Returns its index and voters.
  // REQUIRES: snapshot().index <= index <= last_index().
  struct ConfigAt {
    uint64_t index = 0;
    const std::vector<std::string>* voters = nullptr;
    const std::vector<std::string>* learners = nullptr;
  };
  ConfigAt config_at(uint64_t index) const;

  // REQUIRES: entry.index == last_index() + 1 and entry.term >= last_term().
  void append(LogEntry entry);
  // Drops every entry with index >= `index`. REQUIRES: index > snapshot().index.
  void truncate_from(uint64_t index);
  // Drops entries up to `meta.index`, which becomes the snapshot point.
  // REQUIRES: snapshot().index < meta.index <= last_index(), meta.term == term_at(meta.index).
  void compact_to(SnapshotMeta meta);
  // Drops the whole log; it now starts after the snapshot.
  void reset(SnapshotMeta meta);

 private:
  SnapshotMeta snapshot_;
  std::deque<LogEntry> entries_;
};

}  // namespace mesh
