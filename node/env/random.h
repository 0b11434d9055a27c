// Source of randomness for the core (backoff jitter, later probe targets and
// election timeouts). The real env seeds from the OS; the simulator from one
// seed, so a run replays exactly.
#pragma once

#include <cstdint>

namespace mesh {

class Random {
 public:
  virtual ~Random() = default;
  // Returns a uniformly distributed 64-bit value.
  virtual uint64_t next_u64() = 0;
  // Returns a value uniformly distributed in [0, bound); 0 when bound is 0.
  uint64_t uniform(uint64_t bound) { return bound == 0 ? 0 : next_u64() % bound; }
};

}  // namespace mesh
