// Histograms kept by the driver.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "protocol/messages.h"

namespace mesh {

// Log-linear buckets (4 per power of two) over non-negative integers:
// constant memory, relative error under 19%, fine for latency percentiles.
class Histogram {
 public:
  void record(uint64_t value);
  HistogramSummary summary() const;
  uint64_t count() const { return count_; }
  uint64_t sum() const { return sum_; }
  // Values recorded in buckets that end at or below `value`: exact below 4,
  // otherwise short by at most the one bucket (25% wide) that straddles it.
  // Grows with `value`, as cumulative Prometheus buckets must.
  uint64_t count_at_most(uint64_t value) const;

 private:
  static constexpr size_t kBuckets = 64 * 4;
  static size_t bucket_of(uint64_t value);
  static uint64_t bucket_upper(size_t bucket);
  uint64_t quantile(double q) const;

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
};

}  // namespace mesh
