// Arithmetic on instants and durations that may come from another host:
// it saturates instead of wrapping.
#pragma once

#include <cstdint>
#include <limits>

namespace mesh {

// Milliseconds from `since` to `now`; 0 when `since` is later.
inline uint64_t elapsed_ms(uint64_t now, uint64_t since) { return now > since ? now - since : 0; }

inline uint64_t saturating_add(uint64_t a, uint64_t b) {
  return b > std::numeric_limits<uint64_t>::max() - a ? std::numeric_limits<uint64_t>::max() : a + b;
}

}  // namespace mesh
