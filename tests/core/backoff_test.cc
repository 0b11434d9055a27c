#include "node/core/backoff.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>

#include "test_random.h"

namespace mesh {
namespace {

using testing::FixedRandom;
using testing::SplitMix64;

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();

// The uncapped, unjittered delay the contract is stated in terms of.
uint64_t nominal(uint64_t base, uint64_t max, uint32_t failures) {
  uint64_t d = base;
  for (uint32_t i = 1; i < failures && d < max; ++i) d = d > max / 2 ? max : d * 2;
  return d < max ? d : max;
}

// uniform(bound) is next_u64() % bound and the jitter bound is d - d/2 + 1,
// so a source that returns d - d/2 yields the top of the range.
uint64_t top_of_range(uint64_t base, uint64_t max, uint32_t failures) {
  uint64_t d = nominal(base, max, failures);
  FixedRandom random(d - d / 2);
  return backoff_delay_ms(base, max, failures, random);
}

uint64_t bottom_of_range(uint64_t base, uint64_t max, uint32_t failures) {
  FixedRandom random(0);
  return backoff_delay_ms(base, max, failures, random);
}

TEST_CASE("backoff: every delay lies between d/2 and d") {
  SplitMix64 random(7);
  for (uint32_t failures = 1; failures <= 12; ++failures) {
    uint64_t d = nominal(100, 30000, failures);
    for (int i = 0; i < 500; ++i) {
      uint64_t delay = backoff_delay_ms(100, 30000, failures, random);
      CHECK(delay >= d / 2);
      CHECK(delay <= d);
    }
  }
}

TEST_CASE("backoff: jitter reaches both ends of the range") {
  CHECK(bottom_of_range(100, 30000, 1) == 50);
  CHECK(top_of_range(100, 30000, 1) == 100);
  CHECK(bottom_of_range(100, 30000, 3) == 200);
  CHECK(top_of_range(100, 30000, 3) == 400);
}

TEST_CASE("backoff: odd delays keep the upper half, never come back early") {
  // d = 101: half is 50, and the range is [50, 101].
  CHECK(bottom_of_range(101, 1000, 1) == 50);
  CHECK(top_of_range(101, 1000, 1) == 101);
}

TEST_CASE("backoff: the delay doubles with each failure") {
  for (uint32_t failures = 1; failures <= 8; ++failures) {
    uint64_t d = 100ull << (failures - 1);
    CAPTURE(failures);
    CHECK(bottom_of_range(100, 1000000, failures) == d / 2);
    CHECK(top_of_range(100, 1000000, failures) == d);
  }
}

TEST_CASE("backoff: the delay is capped at max_ms") {
  // 100 * 2^4 = 1600 > 1000.
  CHECK(top_of_range(100, 1000, 5) == 1000);
  CHECK(bottom_of_range(100, 1000, 5) == 500);
  // The cap also holds far past the point where it is first reached.
  CHECK(top_of_range(100, 1000, 100) == 1000);
  CHECK(bottom_of_range(100, 1000, 100) == 500);
  // A cap that is not a power-of-two multiple of the base.
  CHECK(top_of_range(100, 750, 4) == 750);
  CHECK(top_of_range(100, 750, 3) == 400);
}

TEST_CASE("backoff: a base above the cap is clamped to the cap") {
  CHECK(top_of_range(5000, 1000, 1) == 1000);
  CHECK(bottom_of_range(5000, 1000, 1) == 500);
}

TEST_CASE("backoff: base 0 means retry at once") {
  SplitMix64 random(1);
  for (uint32_t failures : {1u, 2u, 10u, 100u}) {
    CHECK(backoff_delay_ms(0, 30000, failures, random) == 0);
  }
}

TEST_CASE("backoff: max 0 means retry at once") {
  SplitMix64 random(1);
  CHECK(backoff_delay_ms(100, 0, 1, random) == 0);
  CHECK(backoff_delay_ms(100, 0, 5, random) == 0);
}

TEST_CASE("backoff: doubling never overflows with a huge cap") {
  // 100 * 2^99 does not fit in 64 bits; the delay must saturate at the cap
  // instead of wrapping around to a small (or zero) value.
  CHECK(bottom_of_range(100, kU64Max, 100) == kU64Max / 2);
  CHECK(top_of_range(100, kU64Max, 100) == kU64Max);
  SplitMix64 random(3);
  for (uint32_t failures = 1; failures <= 100; ++failures) {
    CAPTURE(failures);
    CHECK(backoff_delay_ms(100, kU64Max, failures, random) >= nominal(100, kU64Max, failures) / 2);
  }
}

TEST_CASE("backoff: the same seed gives the same delays") {
  SplitMix64 a(99);
  SplitMix64 b(99);
  for (uint32_t failures = 1; failures <= 20; ++failures) {
    CHECK(backoff_delay_ms(100, 30000, failures, a) == backoff_delay_ms(100, 30000, failures, b));
  }
}

}  // namespace
}  // namespace mesh
