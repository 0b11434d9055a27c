// Retry delay after a failed attempt: exponential in the number of failures,
// capped, with "equal jitter" (half fixed, half random) so retries of many
// tasks that failed together spread out but never come back early.
#pragma once

#include <cstdint>

#include "node/env/random.h"

namespace mesh {

// Delay before the next attempt, given `failures` >= 1 failures so far.
// Always in [d/2, d] where d = min(max_ms, base_ms * 2^(failures-1)).
uint64_t backoff_delay_ms(uint64_t base_ms, uint64_t max_ms, uint32_t failures, Random& random);

}  // namespace mesh
