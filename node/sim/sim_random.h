// SplitMix64: the simulator's only source of randomness. Every node and the
// network draw from streams derived from one seed, so a seed replays a run.
#pragma once

#include <cstdint>

#include "node/env/random.h"

namespace mesh {

class SimRandom final : public Random {
 public:
  explicit SimRandom(uint64_t seed) : state_(seed) {}
  uint64_t next_u64() override {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // True with probability p.
  bool chance(double p) { return p > 0 && static_cast<double>(next_u64() >> 11) * 0x1.0p-53 < p; }

 private:
  uint64_t state_;
};

// Derives an independent stream seed from a run seed and a stream number.
inline uint64_t derive_seed(uint64_t seed, uint64_t stream) {
  SimRandom r(seed ^ (stream * 0xd1b54a32d192ed03ULL));
  return r.next_u64();
}

}  // namespace mesh
