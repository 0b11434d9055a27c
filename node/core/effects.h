// What the core asks its driver to do after one step. Order matters and is
// the driver's contract: first persist `writes` with a synced write, then
// send `replies` and `sends`, then abort and start runs. Nothing leaves the
// node before the state it depends on is durable: not a reply, not a
// StealGrant (whose leases are in `writes`).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "node/core/input.h"
#include "node/core/membership.h"
#include "protocol/messages.h"

namespace mesh {

// RunTask (one attempt to run) is declared with the peer messages, since a
// StealGrant carries the very same thing.

struct AbortRun {
  std::string id;
  uint32_t attempt = 0;
};

struct AddressedReply {
  RequestRef request = 0;
  Reply reply;
};

struct Effects {
  std::vector<TaskRecord> writes;  // records changed, sorted by id
  std::vector<AddressedReply> replies;
  std::vector<AbortRun> aborts;
  std::vector<RunTask> runs;
  std::vector<OutgoingPeerMessage> sends;  // to other nodes, after the writes are synced
  std::optional<uint64_t> wake_at_ms;  // call step(Tick) at or after this instant

  bool empty() const { return writes.empty() && replies.empty() && aborts.empty() && runs.empty() && sends.empty(); }
};

}  // namespace mesh
