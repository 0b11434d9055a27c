#include "node/core/backoff.h"

#include <algorithm>

namespace mesh {

uint64_t backoff_delay_ms(uint64_t base_ms, uint64_t max_ms, uint32_t failures, Random& random) {
  uint64_t delay = base_ms;
  // Saturate at max_ms instead of doubling past it: with a large max_ms the
  // product would overflow and wrap to a tiny (even zero) delay.
  for (uint32_t i = 1; i < failures && delay < max_ms; ++i) delay = delay > max_ms / 2 ? max_ms : delay * 2;
  delay = std::min(delay, max_ms);
  uint64_t half = delay / 2;
  return half + random.uniform(delay - half + 1);
}

}  // namespace mesh
