// Deterministic stand-ins for mesh::Random, shared by the core tests.
#pragma once

#include <cstdint>
#include <deque>

#include "node/env/random.h"
#include "node/sim/sim_random.h"

namespace mesh::testing {

// splitmix64: tiny, fast, and fully determined by its seed (the simulator's).
using SplitMix64 = SimRandom;

// Always returns the same value: pins jitter to a known point.
class FixedRandom final : public Random {
 public:
  explicit FixedRandom(uint64_t value) : value_(value) {}
  uint64_t next_u64() override { return value_; }

 private:
  uint64_t value_;
};

}  // namespace mesh::testing
