// The time source of a driver. The core never reads a clock: the driver
// stamps each Input with now_ms() from one of these.
#pragma once

#include <cstdint>

namespace mesh {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds on a monotonic clock with an arbitrary origin (the real
  // one is steady_clock; the simulator gives each node its own origin and
  // rate). Its instants mean nothing on another host or after a reboot, so a
  // leader re-arms every deadline it did not set itself from the task's
  // durations (NodeState::lease_on_this_clock, not_before_on_this_clock).
  virtual uint64_t now_ms() = 0;
};

}  // namespace mesh
