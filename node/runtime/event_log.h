// A node's recent events (MeshEvent): numbered, logged as logfmt lines, and
// kept in a ring for `meshctl events`. The core reports what it saw happen
// (members, leadership, replicas, steals, transactions); the driver adds
// what only it sees (dead letters, halted partitions).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

#include "protocol/messages.h"

namespace mesh {

class EventLog {
 public:
  static constexpr size_t kDefaultCapacity = 1000;
  explicit EventLog(size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  enum class Logging { kLog, kLoggedAlready };
  // Numbers the event and keeps it, dropping the oldest past the capacity;
  // logs it unless the caller logged it already (with more to say).
  void add(MeshEvent event, Logging logging = Logging::kLog);
  // The kept events numbered after `after_seq`, oldest first, at most `max`.
  EventsReply since(const std::string& node_id, uint64_t after_seq, size_t max = kDefaultCapacity) const;

 private:
  size_t capacity_;
  uint64_t next_seq_ = 1;
  std::deque<MeshEvent> ring_;
};

}  // namespace mesh
