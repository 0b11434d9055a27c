// A member's liveness and the load digest it gossips: shared by the client
// messages (meshctl members) and the gossip itself.
#pragma once

#include <cstdint>

namespace mesh {

enum class MemberState : uint8_t {
  kAlive = 0,
  kSuspect = 1,
  kDead = 2,
  kLeft = 3,  // left gracefully; treated like dead, but never suspected first
};
inline constexpr uint8_t kMemberStateCount = 4;
const char* member_state_name(MemberState s);

// What a node tells the mesh about its work, for stealing and placement.
struct LoadDigest {
  uint64_t pending = 0;     // runnable tasks on partitions it serves
  uint32_t free_slots = 0;  // executor slots idle now
  uint64_t backlog_ms = 0;  // estimated time to drain its queue
  uint64_t version = 0;     // grows with every new digest from that node
  uint32_t slots = 0;       // executor slots in all (appended; placement weighs by it)
  // Health, for adaptive placement (both appended; 0 from older peers):
  uint64_t run_us = 0;            // recent mean time an attempt held a slot here; 0 before the first
  uint32_t failure_permille = 0;  // recent share of attempts here that failed, in 1/1000

  bool operator==(const LoadDigest&) const = default;
};

}  // namespace mesh
