// The time source of a driver. The core never reads a clock: the driver
// stamps each Input with now_ms() from one of these.
#pragma once

#include <cstdint>

namespace mesh {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch. Persisted deadlines (leases, backoff)
  // use it, so it must survive a process restart: the real one is the
  // system clock, the simulator's is virtual.
  virtual uint64_t now_ms() = 0;
};

}  // namespace mesh
