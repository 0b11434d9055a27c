// Histograms kept by the driver and the Prometheus text rendering of a
// node's counters, gauges and histograms.
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

// Renders a stats snapshot in the Prometheus text exposition format.
std::string render_prometheus(const StatsReply& stats);

}  // namespace mesh
