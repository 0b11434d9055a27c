// Deterministic stand-ins for mesh::Random, shared by the core tests.
#pragma once

#include <cstdint>
#include <deque>

#include "node/env/random.h"

namespace mesh::testing {

// splitmix64: tiny, fast, and fully determined by its seed.
class SplitMix64 final : public Random {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t next_u64() override {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

// Always returns the same value: pins jitter to a known point.
class FixedRandom final : public Random {
 public:
  explicit FixedRandom(uint64_t value) : value_(value) {}
  uint64_t next_u64() override { return value_; }

 private:
  uint64_t value_;
};

}  // namespace mesh::testing
